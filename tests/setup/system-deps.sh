#!/usr/bin/env bash
# Debian packages the tests start for real. Installs only what is missing; needs root (CI is root).
set -euo pipefail
want=(bubblewrap
      slurmctld slurmd slurm-client munge    # tests/test_slurm.py: a real one-node cluster
      docker.io debootstrap                  # tests/test_containers.py: real dockerd, local base image
      chromium                               # tests/test_report.py: renders the HTML report headless
      default-jdk-headless nodejs g++ php-cli rustc   # tests/test_eval_benchmarks.py: MultiPL-E toolchains (no Swift in Debian)
      node-typescript mono-mcs mono-runtime           # tests/test_plus_execution_filter.py: TypeScript, C#
)
missing=()
for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
