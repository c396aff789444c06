#!/usr/bin/env bash
# Start magicoder_repro.train.train with one process per GPU, or CPU_PROCESSES processes where GPUS_PER_NODE is 0.
#   launch_train.sh GPUS_PER_NODE NODES fsdp|ddp|deepspeed CPU_PROCESSES TRAIN ARGS...
# 1 process: plain python. One node, several processes: `accelerate launch` with the repo's FSDP, DDP or
# DeepSpeed config. On SLURM (rules/train.smk: the executor plugin's task model submits NODES x
# GPUS_PER_NODE tasks and runs this in the job's batch step, not in a step of its own): srun starts the
# ranks as the job's one step, a task each, and each task (this script again) is its own accelerate
# "machine" of one process: rank SLURM_PROCID of SLURM_NTASKS, GPU number SLURM_LOCALID of its node,
# meeting rank 0 where srun was started (the allocation's first node). Never srun inside a step: a step
# started inside a step waits for the resources its parent holds.
# Processes on CPUs (gloo) take the DDP or FSDP config (train.py gives gloo accelerate's FSDP state); DeepSpeed
# needs GPUs, so there they take DDP.
# RANK_LOG_DIR set: each rank's stdout and stderr also go to files under it (torchrun's --log_dir, --tee).
# SIGUSR1 to every process of a run prints each rank's Python stacks (train.py); launchers ignore it.
set -euo pipefail
gpus=$1 nodes=$2 backend=$3 cpu_processes=$4
shift 4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
per_node=$(( gpus > 0 ? gpus : cpu_processes ))
world=$(( per_node * nodes ))
trap '' USR1  # inherited as ignored by the launchers; the ranks install their own handler
# Packed micro-batches vary in length step to step: growable segments keep the caching allocator from
# fragmenting (6.7B at 32 records a micro-batch peaks at ~104 GiB of an H200's 140; BENCHMARKS.md).
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
if (( world == 1 )); then
    exec python -m magicoder_repro.train.train "$@"
fi
if [[ -n "${SLURM_JOB_ID:-}" && -z "${SLURM_PROCID:-}" ]]; then
    # The batch step (the plugin passes the job's id on, not its task variables): start the ranks. The
    # step takes the job's CPUs and GPUs on each node.
    exec srun --nodes="$nodes" --ntasks="$world" --kill-on-bad-exit=1 bash "${BASH_SOURCE[0]}" "$gpus" "$nodes" "$backend" "$cpu_processes" \
        "$@"
fi
if (( gpus == 0 )); then
    if [[ $backend == deepspeed ]]; then
        echo "launch_train.sh: processes on CPUs take the DDP config, not deepspeed" >&2
        backend=ddp
    fi
    # The workers' Trainer reads this; torchrun does not pass on a config file's `use_cpu`.
    export ACCELERATE_USE_CPU=true
fi
config="$here/configs/accelerate/$backend.yaml"
export MAGICODER_ACCELERATE_CONFIG=$config  # train.py names it when it contradicts train.precision
logs=()
if [[ -n "${RANK_LOG_DIR:-}" ]]; then
    logs=(--log_dir "$RANK_LOG_DIR" --tee 3)
fi
if [[ -n "${SLURM_STEP_ID:-}" && "${SLURM_NTASKS:-1}" == "$world" ]]; then
    # One task of the rule's step: this task is rank SLURM_PROCID and sees its own GPU only.
    if (( gpus > 0 )) && [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
        IFS=, read -ra devices <<<"$CUDA_VISIBLE_DEVICES"
        export CUDA_VISIBLE_DEVICES=${devices[$SLURM_LOCALID]}
    fi
    if [[ -n "${RANK_LOG_DIR:-}" ]]; then
        logs=(--log_dir "$RANK_LOG_DIR/rank$SLURM_PROCID" --tee 3)
    fi
    # A port of this job's own, so that jobs sharing a node do not collide.
    exec accelerate launch --config_file "$config" --num_machines "$world" --num_processes "$world" \
        --machine_rank "$SLURM_PROCID" --main_process_ip "${MASTER_ADDR:-$SLURM_LAUNCH_NODE_IPADDR}" \
        --main_process_port "${MASTER_PORT:-$(( 20000 + SLURM_JOB_ID % 20000 ))}" ${logs[@]+"${logs[@]}"} \
        -m magicoder_repro.train.train "$@"
fi
if (( nodes == 1 )); then
    # Port 0: a free one, so that runs sharing a machine do not collide.
    exec accelerate launch --config_file "$config" --num_machines 1 --num_processes "$per_node" \
        --main_process_port "${MASTER_PORT:-0}" ${logs[@]+"${logs[@]}"} -m magicoder_repro.train.train "$@"
fi
echo "launch_train.sh: $nodes nodes x $per_node processes run as $world SLURM tasks of one step" \
    "(the slurm profile: snakemake --workflow-profile profiles/slurm); here SLURM_NTASKS is ${SLURM_NTASKS:-unset}" >&2
exit 2
