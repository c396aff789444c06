"""Shared test fixtures: a private copy of the workflow to run Snakemake in, and a runner for it."""
import hashlib
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# What a workflow run needs from the repository; linked, so the tests run the code as it is.
WORKFLOW_ENTRIES = ["Snakefile", "rules", "scripts", "schemas", "prompts", "data", "configs", "profiles", "containers", "report", "config.yaml"]


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A fresh directory that looks like the repository to Snakemake, with its own results/ and cache/."""
    wf = tmp_path / "wf"
    wf.mkdir()
    for name in WORKFLOW_ENTRIES:
        if (REPO / name).exists():
            (wf / name).symlink_to(REPO / name)
    return wf


def run_snakemake(workdir: Path, *args: str, check: bool = True, env: dict | None = None, timeout: float = 900):
    """Run Snakemake in `workdir` with this interpreter; on an unexpected exit show its output."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.run(cmd, cwd=workdir, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-5000:]}\n{proc.stderr[-8000:]}")
    return proc


@pytest.fixture
def listener():
    """A TCP listener on the host's loopback recording what reaches it: sandboxed code must not get there."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    hits, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                hits.append(conn.recv(100))
                conn.close()
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join()
    server.close()


def result_digests(workdir: Path) -> dict:
    """sha256 of every file a run wrote under results/, less logs, timings and provenance (which vary)."""
    results = workdir / "results"
    return {
        str(p.relative_to(results)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(results.rglob("*"))
        if p.is_file() and p.relative_to(results).parts[0] not in ("logs", "benchmarks", "provenance")
    }


def only_languages(workdir: Path, *langs: str) -> list[str]:
    """Snakemake arguments for the default config with seeds drawn for `langs` only (every stage, fewer jobs)."""
    sources = yaml.safe_load((REPO / "config.yaml").read_text())["seeds"]["sources"]
    overlay = {"seeds": {"sources": {lang: {**src, "count": src["count"] if lang in langs else 0}
                                     for lang, src in sources.items()}}}
    (workdir / "languages.yaml").write_text(yaml.safe_dump(overlay))
    return ["--configfile", "config.yaml", "languages.yaml", "--"]
