#!/usr/bin/env bash
# Run one workflow step's shell command in a Docker image: the shell Snakemake uses for a rule when
# `runtime.docker: true` (each rule's `resources: shell_exec` is a shim calling this script, written by
# docker_shell in rules/common.smk).
#   docker-step.sh --env-name ENV --image ID [--archive FILE] --network none|bridge --workflow-dir DIR [--gpus SPEC] [--nested-sandbox] -- -c COMMAND
# ID is the image id the image lock records (containers/build.sh); an image missing from this Docker host
# is loaded from its OCI archive FILE (which also carries Docker's manifest.json), then checked to be ID.
# The working directory is bound at the same path (relative and absolute paths stay valid), as is the
# workflow's directory and symlinked inputs when they lie outside it (read-only). The step
# runs as the calling user, so its outputs belong to that user, with no network unless the rule is in
# runtime.network_rules. --nested-sandbox is for steps that run generated code in bubblewrap (sandbox.py):
# bwrap creates user, pid and network namespaces and mounts its own /proc, which Docker's default
# seccomp filter, AppArmor profile and masked /proc paths forbid. Those three are lifted for such a step
# (no capability is added and it still runs as the calling user with its network setting); the generated
# code is confined by bwrap inside the container exactly as on a host, with a cgroup of its own.
set -euo pipefail
env_name=? image= archive= network=none workflow_dir= gpus= nested_sandbox=false
while (($#)); do
    case $1 in
        --env-name) env_name=$2; shift 2 ;;
        --image) image=$2; shift 2 ;;
        --archive) archive=$2; shift 2 ;;
        --network) network=$2; shift 2 ;;
        --workflow-dir) workflow_dir=$2; shift 2 ;;
        --gpus) gpus=$2; shift 2 ;;
        --nested-sandbox) nested_sandbox=true; shift ;;
        --) shift; break ;;
        *) echo "docker-step.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ ${1:-} == -c && $# -eq 2 ]] || { echo "docker-step.sh: expected -- -c COMMAND" >&2; exit 2; }
command=$2
if ! docker image inspect "$image" >/dev/null 2>&1 && [[ -f $archive ]]; then
    docker load --quiet --input "$archive" >&2
fi
if ! docker image inspect "$image" >/dev/null 2>&1; then
    echo "image $image (the image lock's $env_name.id) is not on this Docker host${archive:+ nor in $archive}: build it with" \
         "\`containers/build.sh $env_name\`" >&2
    exit 1
fi

here=$(pwd -P)
run=(docker run --rm --init --network "$network" --user "$(id -u):$(id -g)"
     --volume "$here:$here" --workdir "$here" --env HOME=/tmp --env PYTHONDONTWRITEBYTECODE=1)
# Also bind, read-only, what lies outside the working directory but is reached through it: the
# workflow's directory and the targets of top-level symlinks (a work dir that links the repository in).
outside=()
[[ -n $workflow_dir ]] && outside+=("$(cd "$workflow_dir" && pwd -P)")
for entry in "$here"/*; do
    [[ -L $entry ]] && outside+=("$(readlink -f "$entry")")
done
for path in "${outside[@]}"; do
    [[ -e $path && $path != "$here" && $path != "$here"/* ]] && run+=(--volume "$path:$path:ro")
done
[[ -n $gpus ]] && run+=(--gpus "$gpus" --ipc host)
# The host's cgroup tree, writable, lets the sandbox give each program its own memory and pids cgroup
# under the container's (as root; otherwise the strict sandbox refuses, see evaluation.sandbox.isolation).
$nested_sandbox && run+=(--security-opt seccomp=unconfined --security-opt apparmor=unconfined
                         --security-opt systempaths=unconfined --cgroupns host --volume /sys/fs/cgroup:/sys/fs/cgroup:rw)
# Settings a step reads from its environment (never the whole host environment).
while IFS= read -r name; do
    run+=(--env "$name")
done < <(compgen -e | grep -E '^(PYTHONPATH|PYTHONHASHSEED|OMP_NUM_THREADS|TOKENIZERS_PARALLELISM|TZ|HF_.*|HUGGINGFACE_.*|TRANSFORMERS_.*|OPENAI_.*|CUDA_VISIBLE_DEVICES|NCCL_.*|SLURM_.*|MASTER_ADDR|MASTER_PORT)$' || true)
exec "${run[@]}" "$image" bash -c "set -euo pipefail; $command"
