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
BACKGROUND = pytest.StashKey["Background"]()
# The whole `make run` on a fresh machine takes ~10 min of CPU beside the suite: on request only (CI's 30
# minutes do not hold both; BENCHMARKS.md "make run on a fresh machine").
FRESH_MACHINE_TEST = os.environ.get("MAGICODER_FRESH_MACHINE_TEST") == "1"


class Background:
    """Started when the container tests are collected; they run last, by when this is done. First the
    images (on a fresh machine minutes of debootstrap, apt and pip), then `make run` on a fresh machine
    in the base image (tests/setup/fresh-machine-run.sh: apt, the venv, the whole offline run), on one
    core at a low CPU weight: the suite's tests run one at a time and mostly leave the second core idle,
    and what they do use they keep."""

    STEPS = ("images", "fresh-machine")

    def __init__(self):
        self.procs, self.results, self.stopped, self.lock = [], {}, False, threading.Lock()
        self.container = f"magicoder-fresh-machine-{os.getpid()}"   # stopping `docker run` leaves it running
        self.done = {name: threading.Event() for name in self.STEPS}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _step(self, name: str, *cmd: str, env: dict | None = None) -> bool:
        log = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log")[1])
        with self.lock:   # not after stop()
            if self.stopped:
                return False
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
                                    start_new_session=True, env={**os.environ, **(env or {})})
            self.procs.append(proc)
        out, _ = proc.communicate()
        self.results[name] = (proc.returncode, out, log.read_text())
        self.done[name].set()
        log.unlink()
        return proc.returncode == 0

    def _run(self):
        try:
            if self._step("images", "bash", str(REPO / "tests/setup/build-images.sh")) and FRESH_MACHINE_TEST:
                self._step("fresh-machine", "bash", str(REPO / "tests/setup/fresh-machine-run.sh"),
                           env={"CORES": "1", "DOCKER_RUN_ARGS": f"--cpu-shares 128 --name {self.container}"})
        finally:
            for event in self.done.values():
                event.set()

    def result(self, name: str, timeout: float) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) of a step, once it has finished."""
        self.done[name].wait(timeout)
        if name not in self.results:
            pytest.fail(f"{name}: not run, or not done after {timeout} s (steps done: {sorted(self.results)})")
        return self.results[name]

    def stop(self):
        with self.lock:
            self.stopped = True
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
                proc.wait()
        if len(self.procs) > 1:
            subprocess.run(["docker", "rm", "-f", self.container], capture_output=True, check=False)


def pytest_collection_modifyitems(config, items):
    """The container tests go last, and what they need starts now, in the background (Background)."""
    image_tests = [item for item in items if item.path.name == IMAGE_TESTS]
    if image_tests:
        items[:] = [item for item in items if item.path.name != IMAGE_TESTS] + image_tests
        config.stash[BACKGROUND] = Background()


def pytest_unconfigure(config):
    """A session that ends before the container tests (-x, Ctrl-C) stops what it started."""
    if BACKGROUND in config.stash:
        config.stash[BACKGROUND].stop()


@pytest.fixture(scope="session")
def background(pytestconfig) -> Background:
    if BACKGROUND not in pytestconfig.stash:
        pytest.fail(f"the images build when {IMAGE_TESTS} is collected")
    return pytestconfig.stash[BACKGROUND]


@pytest.fixture(scope="session")
def images(background) -> dict:
    """{"data": ref, "eval": ref} once the build started at collection has finished."""
    status, out, err = background.result("images", timeout=2400)
    if status:
        pytest.fail(f"tests/setup/build-images.sh exited {status}:\n{err[-5000:]}")
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
