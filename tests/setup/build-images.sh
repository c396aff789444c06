#!/usr/bin/env bash
# The images the container tests run: dockerd started if needed, a debootstrap Debian base, then the
# data and eval images from the pinned lock files. Prints `data=REF` and `eval=REF`. Each build is
# cached by content, so on a machine that built them before this takes seconds; on a fresh one about
# nine minutes, which tests/conftest.py overlaps with the rest of the suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/setup/start-docker.sh
base=$(containers/build-base.sh)
echo "data=$(BASE=$base containers/build.sh data)"
echo "eval=$(BASE=$base containers/build.sh eval)"
