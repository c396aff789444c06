#!/usr/bin/env bash
# Make a Debian 12 base image without a registry: debootstrap a minimal root file system and
# `docker import` it. Prints the image's reference. The tag is derived from the recipe and the mirror,
# so a rerun finds the image it made before and returns at once.
#   containers/build-base.sh            -> magicoder-repro/debian-base:bookworm-<hash>
# MIRROR overrides the Debian mirror (default http://deb.debian.org/debian).
set -euo pipefail
mirror=${MIRROR:-http://deb.debian.org/debian}
recipe="debootstrap --variant=minbase bookworm $mirror; apt sources; v1"   # bump v1 when the steps change
tag="magicoder-repro/debian-base:bookworm-$(echo "$recipe" | sha256sum | cut -c1-12)"
if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; exit 0; fi
command -v debootstrap >/dev/null || { echo "build-base.sh: debootstrap is not installed" >&2; exit 1; }
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -n 30 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"
# Same package sources as the official image, and no leftover package lists (they go stale).
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    "$mirror" "$mirror" >"$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
tar -C "$rootfs" --numeric-owner -c . | docker import --change 'CMD ["bash"]' - "$tag" >&2
echo "$tag"
