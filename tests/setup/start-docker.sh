#!/usr/bin/env bash
# Start dockerd for the container tests unless a daemon already answers. No systemd here (nor in CI):
# the daemon runs in the background, its PID in /run/docker-tests.pid, its log in /var/log/dockerd-tests.log.
# Idempotent: a second call (another test session) reuses the running daemon.
set -euo pipefail
docker info >/dev/null 2>&1 && exit 0
command -v dockerd >/dev/null || { echo "dockerd not installed: run tests/setup/system-deps.sh" >&2; exit 1; }
log=/var/log/dockerd-tests.log
# Builds reach PyPI through `--network host`; containers that run pipeline steps use `--network none`,
# so no bridge or NAT rules are needed (iptables is often unusable inside a CI container).
nohup dockerd --iptables=false --ip-masq=false --bridge=none --pidfile /run/docker-tests.pid >"$log" 2>&1 &
for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && exit 0
    kill -0 $! 2>/dev/null || { echo "dockerd exited; its log:" >&2; tail -n 30 "$log" >&2; exit 1; }
    sleep 1
done
echo "dockerd did not answer within 60 s; its log:" >&2; tail -n 30 "$log" >&2; exit 1
