#!/usr/bin/env bash
# The images the container tests run: dockerd started if needed, a debootstrap Debian base, then the
# data image (with its OCI archive) and the eval image (Docker only: the tests run it through Docker),
# recorded in a test image lock outside the checkout (IMAGES, default /var/tmp/magicoder-repro-images,
# kept between runs like Docker's own store). Prints `lock=PATH`, `data=ID` and `eval=ID`. Each build is
# cached by content, so on a machine that built them before this takes seconds; on a fresh one about
# nine minutes, which tests/conftest.py overlaps with the rest of the suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/setup/start-docker.sh
export IMAGES=${IMAGES:-/var/tmp/magicoder-repro-images}
export LOCK=$IMAGES/images.lock.yaml BASE
BASE=$(containers/build-base.sh)
echo "lock=$LOCK"
echo "data=$(containers/build.sh data)"
echo "eval=$(containers/build.sh --docker-only eval)"
