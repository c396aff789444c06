#!/usr/bin/env bash
# Build one pipeline image from containers/<env>/Dockerfile and envs/<env>.lock.txt; print its image id
# (sha256:...), the value for runtime.images.<env> in the config.
#   containers/build.sh data                  # default base: the official image pinned by digest
#   BASE=$(containers/build-base.sh) containers/build.sh data     # no registry: a debootstrap base
# The tag is a hash of everything the build reads (Dockerfile, lock file, install script, base), so an unchanged image
# is not rebuilt. The CA bundle pip should trust (BUILD_CA_BUNDLE, default the host's, e.g. for a TLS
# proxy) is used in a throwaway build stage only. Builds reach the network through the host's (--network host).
set -euo pipefail
env=${1:?usage: containers/build.sh data|train|eval}
root=$(cd "$(dirname "$0")/.." && pwd)
dockerfile="$root/containers/$env/Dockerfile"
lock="$root/envs/$env.lock.txt"
[[ -f $dockerfile && -f $lock ]] || { echo "build.sh: no image '$env' (need $dockerfile and $lock)" >&2; exit 1; }
ca=${BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$dockerfile" "$context/Dockerfile"
cp "$lock" "$context/lock.txt"
cp "$root/containers/install-venv.sh" "$context/"
if [[ -f $ca ]]; then cp "$ca" "$context/build-ca.crt"; else : >"$context/build-ca.crt"; fi
base_args=()
[[ -n ${BASE:-} ]] && base_args=(--build-arg "BASE=$BASE")
recipe=$(cat "$dockerfile" "$lock" "$root/containers/install-venv.sh" <(echo "${BASE:-default}") | sha256sum | cut -c1-12)
tag="magicoder-repro/$env:$recipe"
if ! docker image inspect "$tag" >/dev/null 2>&1; then
    docker build --network host --tag "$tag" "${base_args[@]}" "$context" >&2
fi
docker image inspect --format '{{.Id}}' "$tag"
