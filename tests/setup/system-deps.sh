#!/usr/bin/env bash
# Debian packages the pipeline needs, installed only where missing, saying which.
#   system-deps.sh run   what the offline default run needs (`make run`)
#   system-deps.sh       that, and what the tests start for real (`make test`)
# Installing needs root and apt-get; without them nothing is installed: one line names what is
# missing and the command that installs it, and the exit status is 1, before anything runs.
set -euo pipefail
run=(python3 python3-venv      # the venv (`python3 -m venv` needs ensurepip, which Debian packages apart)
     bubblewrap)               # the sandbox that scores the evaluation samples (evaluation.sandbox)
tests=(slurmctld slurmd slurm-client munge    # tests/test_slurm.py: a real one-node cluster
       docker.io debootstrap                  # tests/test_containers.py: real dockerd, local base image
       skopeo umoci podman uidmap slirp4netns # ... and the OCI archives, unpacked and run rootless as on a cluster
       chromium                               # tests/test_report.py: renders the HTML report headless
       default-jdk-headless nodejs g++ php-cli rustc   # tests/test_eval_benchmarks.py: MultiPL-E toolchains (no Swift in Debian)
       node-typescript mono-mcs mono-runtime           # tests/test_plus_execution_filter.py: TypeScript, C#
)
want=("${run[@]}")
[[ ${1:-} == run ]] || want+=("${tests[@]}")
missing=()
if command -v dpkg-query >/dev/null; then
    for pkg in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
else   # not Debian: check the run's commands themselves
    command -v python3 >/dev/null && python3 -c "import ensurepip" 2>/dev/null || missing+=(python3-venv)
    command -v bwrap >/dev/null || missing+=(bubblewrap)
fi
((${#missing[@]})) || exit 0
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    how="as root: apt-get install ${missing[*]}"
    command -v apt-get >/dev/null || how="with this system's package manager"
    echo "missing system packages: ${missing[*]}; install them $how, then run this command again" >&2
    exit 1
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
log=$(mktemp)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 \
    || { tail -n 20 "$log" >&2; echo "apt-get install ${missing[*]} failed (its last lines above)" >&2; rm -f "$log"; exit 1; }
rm -f "$log"
