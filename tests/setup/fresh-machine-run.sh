#!/usr/bin/env bash
# `make run` on a fresh machine: a fresh clone of this repository's HEAD in a container of the repo's
# own debootstrap base image (containers/build-base.sh: Debian 12 minbase, no python3, no bubblewrap,
# no venv), as root, which installs `make` (what a user types first) and runs `make run`. Prints the
# run's own output and the wall time; BENCHMARKS.md records it. Too slow for CI (the venv install
# alone is minutes); tests/test_containers.py checks its set-up part instead.
#   tests/setup/fresh-machine-run.sh [PIP_CACHE_DIR]
# Lent from the host, read-only, so nothing is downloaded twice: its apt archive, its CA bundle (for a
# TLS proxy), and its pip configuration with the local wheel directories and indexes it names
# (`pip config list`: find-links, file:// index URLs, constraints); a PIP_CACHE_DIR makes a second run
# skip what pip still fetched. Needs dockerd and the network (apt lists, PyPI for what is not local).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bash "$root/tests/setup/start-docker.sh"
base=$("$root/containers/build-base.sh")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/clone"
lent=()
[[ -n ${1:-} ]] && lent+=(-v "$(realpath "$1"):/root/.cache/pip")
ca=${BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[[ -f $ca ]] && lent+=(-v "$ca:/usr/local/share/host-ca.crt:ro" -e PIP_CERT=/usr/local/share/host-ca.crt)
for path in /etc/pip.conf /etc/xdg/pip $(pip config list 2>/dev/null | grep -o "\(file://\)\?/[^' ]*" | sed 's|^file://||'); do
    path=${path%/simple}
    [[ $path == /etc/ssl/* || $path == /etc/xdg/pip/* ]] && continue   # the CA is lent above; the folder is
    [[ -e $path ]] && lent+=(-v "$path:$path:ro")
done
for var in $(env | grep -o '^PIP_[A-Z_]*' | grep -v '^PIP_CERT$'); do lent+=(-e "$var=${!var}"); done
# bwrap inside a container needs what Docker's seccomp/AppArmor defaults forbid (containers/docker-step.sh).
docker run --rm --network host -v "$work/clone:/clone" -w /clone "${lent[@]}" \
    -v /var/cache/apt/archives:/var/cache/apt/archives \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
    "$base" bash -c 'set -e; start=$(date +%s)
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make >/dev/null
        make run
        echo "fresh machine: clone to report in $(( $(date +%s) - start )) s"'
