#!/bin/sh
# The images' package stage: a venv at /opt/venv from a hash-pinned lock file, no resolver (--no-deps).
# Usage (inside a build): install-venv.sh LOCK [python -m venv options, e.g. --system-site-packages]
# The build's CA bundle (/tmp/build-ca.crt, empty when none) is trusted here only, never in the image.
set -eu
lock=$1
shift
python3 -m venv "$@" /opt/venv
if [ -s /tmp/build-ca.crt ]; then export PIP_CERT=/tmp/build-ca.crt; fi
/opt/venv/bin/pip install --quiet --no-cache-dir --disable-pip-version-check --require-hashes --no-deps -r "$lock"
