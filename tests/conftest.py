"""Shared test fixtures: a private copy of the workflow to run Snakemake in, and a runner for it."""
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# What a workflow run needs from the repository; linked, so the tests run the code as it is.
WORKFLOW_ENTRIES = ["Snakefile", "rules", "scripts", "schemas", "prompts", "data", "configs", "profiles", "containers", "report", "config.yaml"]


IMAGE_TESTS = "test_containers.py"
IMAGE_BUILD = pytest.StashKey[tuple[subprocess.Popen, Path]]()


def pytest_collection_modifyitems(config, items):
    """The container tests go last, and their images start building now, in the background: on a fresh
    machine that is minutes of debootstrap, apt and pip that the other tests overlap."""
    image_tests = [item for item in items if item.path.name == IMAGE_TESTS]
    if image_tests:
        items[:] = [item for item in items if item.path.name != IMAGE_TESTS] + image_tests
        log = Path(tempfile.mkstemp(prefix="build-images-", suffix=".log")[1])
        build = subprocess.Popen(["bash", str(REPO / "tests/setup/build-images.sh")], stdout=subprocess.PIPE,
                                 stderr=log.open("w"), text=True, start_new_session=True)
        config.stash[IMAGE_BUILD] = (build, log)


def pytest_unconfigure(config):
    """A session that ends before the container tests (-x, Ctrl-C) stops the build it started."""
    build, _ = config.stash.get(IMAGE_BUILD, (None, None))
    if build is not None and build.poll() is None:
        os.killpg(build.pid, 15)
        build.wait()


@pytest.fixture(scope="session")
def images(pytestconfig) -> dict:
    """{"lock": path, "data": id, "eval": id} (tests/setup/build-images.sh) once the build started at
    collection has finished."""
    if IMAGE_BUILD not in pytestconfig.stash:
        pytest.fail(f"the image build starts when {IMAGE_TESTS} is collected")
    build, log = pytestconfig.stash[IMAGE_BUILD]
    out, _ = build.communicate(timeout=2400)
    if build.returncode:
        pytest.fail(f"tests/setup/build-images.sh exited {build.returncode}:\n{log.read_text()[-5000:]}")
    log.unlink()
    return dict(line.split("=", 1) for line in out.splitlines())


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
