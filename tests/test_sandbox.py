"""Escape attempts inside solutions that still pass: under the sandbox every attempt is blocked and the
score is unchanged; without it (runtime none, for comparison) the same attempts succeed, which shows
the test can fail."""
import gzip
import json
import os
import time

import pytest

from eval_helpers import HUMANEVAL, REPO, evalplus_cache, humaneval  # noqa: F401
from magicoder_repro import eval_score, sandbox

pytestmark = pytest.mark.slow
SLEEP_TAG = "31.25"  # a unique argument, to find a spawned process again


def attack(marker, port):
    """Module-level code run by every test of the task: write outside the work dir, spawn a process that
    outlives the run, connect to the host's 127.0.0.1. EvalPlus's guard nulls os.system & co., so use
    calls it leaves alone."""
    return f'''
import os as _os, socket as _socket
try:
    _fd = _os.open({str(marker)!r}, _os.O_WRONLY | _os.O_CREAT)
    _os.write(_fd, b"escaped")
except Exception:
    pass
try:
    _null = [(_os.POSIX_SPAWN_OPEN, fd, "/dev/null", _os.O_RDWR, 0) for fd in (0, 1, 2)]
    _os.posix_spawn("/bin/sleep", ["sleep", "{SLEEP_TAG}"], {{}}, setsid=True, file_actions=_null)
except Exception:
    pass
try:
    _s = _socket.create_connection(("127.0.0.1", {port}), timeout=1)
    _s.sendall(b"escaped")
    _s.close()
except Exception:
    pass
'''


def spawned():
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if SLEEP_TAG.encode() in open(f"/proc/{pid}/cmdline", "rb").read():
                pids.append(int(pid))
        except OSError:
            pass
    return pids


def score_escape_attempts(tmp_path, listener, sandbox_cfg):
    """Score 3 HumanEval tasks whose passing solutions also try to escape; return the result and what escaped."""
    port, hits = listener
    marker = tmp_path / "outside" / "escaped.txt"
    marker.parent.mkdir()
    rows = [json.loads(line) for line in gzip.open(REPO / HUMANEVAL, "rt")][:3]
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps({"task_id": r["task_id"], "solution": attack(marker, port) + r["prompt"] + r["canonical_solution"]}) + "\n" for r in rows))
    result = eval_score.score(humaneval(limit=3), samples, sandbox_cfg)
    time.sleep(0.5)
    escaped = {"file": marker.exists(), "process": bool(spawned()), "network": bool(hits)}
    for pid in spawned():
        os.kill(pid, 9)
    return result, escaped


@pytest.mark.parametrize("runtime", ["bwrap", "none"])
def test_escape_attempts_in_passing_solutions(runtime, tmp_path, listener, evalplus_cache):
    result, escaped = score_escape_attempts(tmp_path, listener, {"runtime": runtime})
    assert result["pass@1"] == {"base": 1.0, "plus": 1.0}  # the attacks do not change the score
    if runtime == "bwrap":
        assert escaped == {"file": False, "process": False, "network": False}
    else:
        assert escaped == {"file": True, "process": True, "network": True}


def test_sandbox_limits(tmp_path):
    run = lambda code, **kw: sandbox.run(["python", "-c", code], tmp_path, {"runtime": "bwrap", "memory_mb": 256}, **kw)  # noqa: E731
    uid, env = run("import os; print(os.getuid(), '|', sorted(os.environ))").stdout.split("|")
    assert uid.strip() == "65534" and not {"PYTHONPATH", "XDG_CACHE_HOME", "OPENAI_API_KEY"} & set(eval(env))
    assert run("open('inside.txt', 'w').write('ok')").returncode == 0 and (tmp_path / "inside.txt").exists()
    assert run("open('/usr/x', 'w')").returncode != 0
    assert "MemoryError" in run("x = bytearray(1 << 30)").stderr
    t = time.time()
    slow = run("import time; time.sleep(30)", timeout=1)
    assert slow.returncode != 0 and time.time() - t < 10 and "timed out" in slow.stderr
    # Home is an empty tmpfs except the toolchains bound back read-only: secrets there stay hidden.
    home = os.path.expanduser("~")
    visible = eval(run(f"import os; print(os.listdir({home!r}))").stdout)
    toolchain_dirs = {p.relative_to(home).parts[0] for p in sandbox.toolchains()[0] if str(p).startswith(home + "/")}
    assert set(visible) == toolchain_dirs


def test_unknown_runtime_and_missing_tool(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown sandbox runtime"):
        sandbox.command(["true"], tmp_path, {"runtime": "chroot"})
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="bubblewrap"):
        sandbox.command(["true"], tmp_path, {"runtime": "bwrap"})


def test_docker_command_is_locked_down(tmp_path):
    if sandbox.shutil.which("docker") is None:
        pytest.skip("docker CLI not installed")
    cmd = sandbox.command(["python", "-c", "1"], tmp_path, {"runtime": "docker", "image": "img:1"})
    for flag in (["--network", "none"], ["--read-only"], ["--user", "65534:65534"], ["--cap-drop", "ALL"]):
        assert any(cmd[i:i + len(flag)] == flag for i in range(len(cmd)))
    assert cmd[-4:] == ["img:1", "python", "-c", "1"]
