"""Time for the generate job to stop on an error no retry can fix, and the requests it sent first.

400 seeds (the issue's case: before, an unreachable base_url took ~180 s and a 401 sent all 400), the
job as its rule runs it (`python -m magicoder_repro.data.generate`, a fresh process: the figure includes
Python's start and imports), default runtime knobs (64 in flight, 8 retries, 300 s timeout). Faults
from tests/fault_server.py; `refused` is a closed loopback port. A black-holed address fails the preflight at
its 5 s connect timeout (generate.CONNECT_TIMEOUT_S); this machine's network answers for any outside
address, so that case cannot be measured here.
  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/teacher_fail_fast.py
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "scripts"), str(REPO / "tests")]
from fault_server import FaultServer  # noqa: E402
from test_generate import generate_cmd, teacher_config, write_seeds  # noqa: E402


def timed(tmp: Path, base_url: str) -> tuple[float, int, str]:
    seeds = write_seeds(tmp / "seeds.jsonl", 400)
    cmd = generate_cmd(tmp, seeds, teacher_config(base_url=base_url), "out", concurrency=64, timeout_s=300, max_retries=8)
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts"), "MAGICODER_TEST_KEY": "k", "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    return time.monotonic() - start, proc.returncode, proc.stderr.strip().splitlines()[-1]


def main():
    rows = []
    for fault in ("401", "403", "404"):
        with tempfile.TemporaryDirectory() as tmp, FaultServer(faults=lambda request, f=fault: [f] * 9) as server:
            seconds, rc, line = timed(Path(tmp), server.base_url)
            rows.append({"case": f"HTTP {fault}", "seconds": round(seconds, 2), "exit": rc,
                         "requests_sent": sum(server.attempts.values()), "message": line})
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
    for case, url in (("refused", refused),):
        with tempfile.TemporaryDirectory() as tmp:
            seconds, rc, line = timed(Path(tmp), url)
            rows.append({"case": case, "seconds": round(seconds, 2), "exit": rc, "requests_sent": None, "message": line})
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
