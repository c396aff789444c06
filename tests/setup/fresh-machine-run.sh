#!/usr/bin/env bash
# `make run` on a fresh machine: a fresh clone of this repository's HEAD in a container of the repo's
# own debootstrap base image (containers/build-base.sh: Debian 12 minbase, no python3, no bubblewrap,
# no venv), as root, which installs `make` (what a user types first) and runs `make run`. Prints the
# run's own output, the evaluation rows of the report it made, and the wall time; BENCHMARKS.md records
# it. The suite runs it in the background (tests/conftest.py, Background) with CORES=1.
#   tests/setup/fresh-machine-run.sh [PIP_CACHE_DIR]
# CORES=N: make run's cores (default 2); DOCKER_RUN_ARGS: more `docker run` options (the suite gives the
# container a low CPU weight, --cpu-shares 128, so the tests beside it keep their CPU).
# Lent from the host, so nothing is downloaded twice: its apt archive, its CA bundle (for a TLS proxy),
# its pip configuration with the local wheel directories and indexes it names (`pip config list`:
# find-links, file:// index URLs, constraints), read-only, and pip's download cache (PIP_CACHE_DIR, by
# default the host's own, which building the host's venv filled). Needs dockerd and the network (apt
# lists, PyPI for what is in neither).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bash "$root/tests/setup/start-docker.sh"
base=$("$root/containers/build-base.sh")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/clone"
lent=()
cache=${1:-$(pip cache dir 2>/dev/null || true)}
[[ -n $cache ]] && mkdir -p "$cache" && lent+=(-v "$(realpath "$cache"):/root/.cache/pip")
ca=${BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[[ -f $ca ]] && lent+=(-v "$ca:/usr/local/share/host-ca.crt:ro" -e PIP_CERT=/usr/local/share/host-ca.crt)
for path in /etc/pip.conf /etc/xdg/pip $(pip config list 2>/dev/null | grep -o "\(file://\)\?/[^' ]*" | sed 's|^file://||'); do
    path=${path%/simple}
    [[ $path == /etc/ssl/* || $path == /etc/xdg/pip/* ]] && continue   # the CA is lent above; the folder is
    [[ -e $path ]] && lent+=(-v "$path:$path:ro")
done
for var in $(env | grep -o '^PIP_[A-Z_]*' | grep -v '^PIP_CERT$'); do lent+=(-e "$var=${!var}"); done
# bwrap inside a container needs what Docker's seccomp/AppArmor defaults forbid, and the sandbox's memory
# and pids cgroups the host's cgroup tree, writable, as root has it on a machine (containers/docker-step.sh).
docker run --rm --network host -v "$work/clone:/clone" -w /clone "${lent[@]}" \
    -v /var/cache/apt/archives:/var/cache/apt/archives \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
    --cgroupns host --volume /sys/fs/cgroup:/sys/fs/cgroup:rw \
    ${DOCKER_RUN_ARGS:-} -e CORES="${CORES:-2}" "$base" bash -c 'set -e; start=$(date +%s)
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make >/dev/null
        make run CORES=$CORES
        echo "fresh machine: clone to report in $(( $(date +%s) - start )) s"
        .venv/bin/python - <<"PY"
import json
for row in json.load(open("results/report/summary.json"))["evaluation"]["rows"]:
    if row["source"] == "this run":
        print("report:", json.dumps(row, sort_keys=True))
PY
'
