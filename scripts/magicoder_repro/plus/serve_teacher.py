"""Serve an open teacher model for the length of one command: start, wait until healthy, run, stop.

With `teacher.serve` set, the generation job runs as
    python -m magicoder_repro.plus.serve_teacher --serve JSON --served-name NAME -- python -m magicoder_repro.data.generate ...
so the server lives inside the same job as the requests (one SLURM job holds the GPUs for both, and
nothing is left running when it ends). Engines: `vllm serve` on GPU nodes, `transformers serve` on a
CPU. The command reaches the server through OPENAI_BASE_URL, which the openai client reads when
`teacher.base_url` is null; a free port is picked per job unless `serve.port` fixes one, so parallel
generation jobs each get their own server.

Ready means: `/health` answers 200 and a one-token chat completion for the served model succeeds (a
server can be up before its model loads). A server that exits or stays unready past the startup
timeout is an error that quotes its log tail. The server runs in its own process group, and that
group is killed on every way out (success, failure, SIGTERM from Snakemake or SLURM, Ctrl-C).
"""
import argparse
import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from magicoder_repro.core.errors import one_line_errors

LOG_TAIL_LINES = 40
STOP_GRACE_S = 15


class ServerFailed(RuntimeError):
    """The server exited or did not become ready; the message carries its log tail."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def executable(name: str) -> str:
    """`name` from PATH, else beside this interpreter (a venv's console scripts when it is not activated)."""
    beside = Path(sys.executable).parent / name
    return shutil.which(name) or (str(beside) if beside.exists() else name)


def server_command(serve: dict, served_name: str, port: int) -> list[str]:
    """The engine's command line for `serve` settings (engine, model, gpus, extra_args)."""
    engine, model, extra = serve["engine"], serve["model"], list(serve.get("extra_args", []))
    if engine == "vllm":
        return [executable("vllm"), "serve", model, "--host", "127.0.0.1", "--port", str(port), "--served-model-name", served_name,
                "--tensor-parallel-size", str(max(1, serve.get("gpus", 1))), *extra]
    if engine == "transformers":
        if served_name != model:
            raise ValueError(f"transformers serve answers only to the model path it serves: set teacher.model to "
                             f"{model!r} (it is {served_name!r})")
        # Continuous batching on GPUs only: on a CPU its paged cache is sized from host memory, and the
        # first request waits ~30 s for it (measured on a tiny model; minutes on a loaded machine).
        batching = ["--device", "auto", "--continuous-batching"] if serve.get("gpus", 0) else ["--device", "cpu"]
        return [executable("transformers"), "serve", model, "--host", "127.0.0.1", "--port", str(port), *batching, *extra]
    raise ValueError(f"teacher.serve.engine must be vllm or transformers, not {engine!r}")


class Server:
    """A running server process whose output goes to stderr (the job's log) and into a tail buffer."""

    def __init__(self, command: list[str], port: int):
        self.command, self.port = command, port
        self.base_url = f"http://127.0.0.1:{port}"
        self.tail = collections.deque(maxlen=LOG_TAIL_LINES)
        try:
            self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         text=True, errors="replace", start_new_session=True)
        except FileNotFoundError as e:
            raise ServerFailed(f"cannot start the teacher server: {command[0]!r} is not installed ({e})") from None
        self.reader = threading.Thread(target=self._copy_output, daemon=True)
        self.reader.start()

    def _copy_output(self):
        for line in self.proc.stdout:
            self.tail.append(line.rstrip("\n"))
            print(f"[teacher-server] {line}", end="", file=sys.stderr, flush=True)

    def failure(self, what: str) -> ServerFailed:
        self.reader.join(timeout=2)
        tail = "\n".join(self.tail) or "(no output)"
        return ServerFailed(f"teacher server {what}: {' '.join(self.command)}\n--- last lines of its log ---\n{tail}")

    def _get(self, path: str, body: dict | None = None, timeout: float = 10) -> int:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return 0

    def wait_ready(self, served_name: str, timeout_s: float, poll_s: float = 0.5):
        deadline = time.monotonic() + timeout_s
        probe = {"model": served_name, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1, "temperature": 0}
        healthy = False
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise self.failure(f"exited with code {self.proc.returncode} before it was ready")
            healthy = healthy or self._get("/health", timeout=5) == 200
            if healthy and self._get("/v1/chat/completions", probe, timeout=max(5.0, deadline - time.monotonic())) == 200:
                return
            time.sleep(poll_s)
        state = "answered /health but not a chat completion" if healthy else "never answered /health"
        raise self.failure(f"not ready after {timeout_s:.0f} s ({state})")

    def stop(self):
        """SIGTERM to the whole process group, SIGKILL after a grace period: no orphaned workers."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # engine workers that outlived their parent
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.reader.join(timeout=2)


@contextmanager
def serving(serve: dict, served_name: str):
    """A ready server for the block; always stopped afterwards."""
    port = serve.get("port") or free_port()
    server = Server(server_command(serve, served_name, port), port)
    try:
        server.wait_ready(served_name, serve.get("startup_timeout_s", 600))
        yield server
    finally:
        server.stop()


def raise_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through `serving`, which stops the server


def run(serve: dict, served_name: str, api_key_env: str, command: list[str]) -> int:
    """Run `command` against a freshly served teacher; its exit code."""
    signal.signal(signal.SIGTERM, raise_on_sigterm)
    with serving(serve, served_name) as server:
        print(f"[teacher-server] ready at {server.base_url} (pid {server.proc.pid})", file=sys.stderr, flush=True)
        env = {**os.environ, "OPENAI_BASE_URL": f"{server.base_url}/v1"}
        env.setdefault(api_key_env, "local")  # a local server needs no key; the client needs a value
        child = subprocess.Popen(command, env=env)
        try:
            return child.wait()
        finally:
            if child.poll() is None:
                child.terminate()
                child.wait()


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--serve", required=True, help="teacher.serve as JSON: engine, model, gpus, port, startup_timeout_s, extra_args")
    p.add_argument("--served-name", required=True, help="the model name requests use (teacher.model)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run against the server")
    a = p.parse_args(argv)
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not command:
        p.error("no command given after --")
    try:
        code = run(json.loads(a.serve), a.served_name, a.api_key_env, command)
    except (ServerFailed, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
