#!/usr/bin/env bash
# Build one pipeline image from containers/<env>/Dockerfile and envs/<env>.lock.txt, save it as an OCI
# archive and record it in the image lock (containers/images.lock.yaml, or LOCK=...), which the rules
# read (`container:` and the Docker shell, rules/common.smk). Prints the image id.
#   containers/build.sh data                  # default base: the official image pinned by digest
#   BASE=$(containers/build-base.sh) containers/build.sh data     # no registry: a debootstrap base
#   containers/build.sh --docker-only eval    # Docker only: the lock gets the image id, no archive
# The archive (IMAGES=dir, default containers/images/, git-ignored) is named by its manifest digest. It is
# an OCI image layout (skopeo, umoci, podman, `apptainer pull oci-archive://`) that also carries Docker's
# manifest.json (`docker load`, `docker-archive://`), and is loaded back into Docker so that Docker runs
# the image by the id the lock records (its config digest, the same in Docker and podman).
# The lock's line per image (containers/image_lock.py): digest (manifest), id (config), archive (relative
# to the lock), base, recipe, and tools: which of TOOLS are on the image's PATH (the rules check their
# needs against it before anything runs).
# The tag is a hash of everything the build reads (Dockerfile, lock file, install script, base), so an unchanged image
# is not rebuilt. The CA bundle pip should trust (BUILD_CA_BUNDLE, default the host's, e.g. for a TLS
# proxy) is used in a throwaway build stage only. Builds reach the network through the host's (--network host).
set -euo pipefail
archive=true
[[ ${1:-} == --docker-only ]] && { archive=false; shift; }
env=${1:?usage: containers/build.sh [--docker-only] data|train|eval}
root=$(cd "$(dirname "$0")/.." && pwd)
dockerfile="$root/containers/$env/Dockerfile"
lock="$root/envs/$env.lock.txt"
image_lock=${LOCK:-$root/containers/images.lock.yaml}
images=${IMAGES:-$root/containers/images}
# Every tool a rule may need from its image (rules/common.smk, `needs`): interpreters, the sandbox, the
# MultiPL-E and execution-filter toolchains (sandbox.TOOLCHAINS), srun for multi-node training.
TOOLS="python3 bash bwrap srun g++ javac java node php rustc swiftc tsc mcs mono"
[[ -f $dockerfile && -f $lock ]] || { echo "build.sh: no image '$env' (need $dockerfile and $lock)" >&2; exit 1; }
if $archive; then
    command -v skopeo >/dev/null || { echo "build.sh: skopeo is not installed (apt-get install skopeo), or use --docker-only" >&2; exit 1; }
fi
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
helper() { python3 "$root/containers/image_lock.py" "$@"; }
# Up to date: same recipe, the recorded image in Docker, its archive present (or not asked for).
if [[ $(helper get "$image_lock" "$env" recipe) == "$recipe" ]]; then
    id=$(helper get "$image_lock" "$env" id)
    file=$(helper get "$image_lock" "$env" archive)
    if docker image inspect "$id" >/dev/null 2>&1 && { ! $archive || [[ -f $(dirname "$image_lock")/$file ]]; }; then
        echo "$id"
        exit 0
    fi
fi
if ! docker image inspect "$tag" >/dev/null 2>&1; then
    docker build --network host --tag "$tag" "${base_args[@]}" "$context" >&2
fi
digest= file=
if $archive; then
    layout="$context/layout"
    skopeo copy --quiet "docker-daemon:$tag" "oci:$layout:$env" >&2
    digest=$(helper docker-manifest "$layout" "$tag")
    mkdir -p "$images"
    path="$images/$env-${digest/:/-}.oci.tar"
    tar -C "$layout" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$path.part" .
    mv "$path.part" "$path"
    docker load --quiet --input "$path" >&2   # the tag now names the archive's image (its config digest)
    file=$(realpath --relative-to="$(dirname "$image_lock")" "$path")
fi
id=$(docker image inspect --format '{{.Id}}' "$tag")
tools=$(docker run --rm --network none --entrypoint sh "$id" -c \
    "for t in $TOOLS; do command -v \$t >/dev/null && printf '\"%s\",' \$t; done; true")
mkdir -p "$(dirname "$image_lock")"
helper put "$image_lock" "$env" "{\"digest\": \"$digest\", \"id\": \"$id\", \"archive\": \"$file\",
    \"base\": \"${BASE:-default}\", \"recipe\": \"$recipe\", \"tools\": [${tools%,}]}"
echo "$id"
