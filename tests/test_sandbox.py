"""The sandbox's own behaviour: escape attempts inside solutions that still pass are blocked while the
score is unchanged (without it, runtime none, the same attempts succeed, which shows the test can fail);
a private work area nothing leaves; per-program limits; one work area for a build and its run; the docker
runtime changes no host permission. Host attacks one by one: test_sandbox_adversarial.py."""
import gzip
import json
import os
import subprocess
import time

import pytest

from eval_helpers import HUMANEVAL, REPO, evalplus_cache, humaneval  # noqa: F401
from magicoder_repro.evaluate import score as eval_score, sandbox

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
    """The program sees the job's files in a private work area; what it writes stays there; memory, time,
    output are limited per program and reported."""
    (tmp_path / "input.txt").write_text("given")
    run = lambda code, **kw: sandbox.run(["python", "-c", code], tmp_path, {"runtime": "bwrap", "memory_mb": 256}, **kw)  # noqa: E731
    uid, env = run("import os; print(os.getuid(), '|', sorted(os.environ))").stdout.split("|")
    assert int(uid) == (sandbox.NOBODY if os.geteuid() == 0 else os.geteuid())
    assert set(eval(env)) <= set(sandbox.ENV_ALLOWED)
    wrote = run("print(open('input.txt').read()); open('inside.txt', 'w').write('ok'); print(open('inside.txt').read())")
    assert wrote.stdout.split() == ["given", "ok"] and sorted(os.listdir(tmp_path)) == ["input.txt"]  # nothing written back
    assert run("open('/usr/x', 'w')").returncode != 0
    big = run("x = bytearray(1 << 30); print('held')")
    assert big.returncode != 0 and "held" not in big.stdout
    if sandbox.cgroup_parents():
        assert big.limits_hit == ["memory"]
        # The limit is the cgroup's: a harness may still set its own larger rlimits (EvalPlus sets 4 GiB).
        own = run("import resource; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)); print('set')")
        assert own.stdout.strip() == "set", own.stderr
    t = time.time()
    slow = run("import time; time.sleep(30)", timeout=1)
    assert slow.returncode != 0 and time.time() - t < 10 and "timed out" in slow.stderr and slow.limits_hit == ["timeout"]
    # Home is an empty tmpfs except the toolchains bound back read-only: secrets there stay hidden.
    home = os.path.expanduser("~")
    visible = eval(run(f"import os; print(os.listdir({home!r}))").stdout)
    toolchain_dirs = {p.relative_to(home).parts[0] for p in sandbox.toolchains()[0] if str(p).startswith(home + "/")}
    assert set(visible) == toolchain_dirs


def test_steps_share_one_work_area_with_their_own_limits(tmp_path):
    """A build's output reaches the run in one sandbox; a step past its own limit is a timeout."""
    (tmp_path / "prog.sh").write_text("echo built > out\n")
    ok = sandbox.run_steps([("bash prog.sh", 10), ("cat out", 10)], tmp_path)
    assert ok.returncode == 0 and ok.stdout == "built\n" and ok.limits_hit == []
    slow = sandbox.run_steps([("sleep 20", 1), ("echo never", 10)], tmp_path)
    assert "never" not in slow.stdout and slow.limits_hit == ["timeout"] and "[sandbox] timed out" in slow.stderr


def test_unknown_runtime_and_missing_tool(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown sandbox runtime"):
        sandbox.command(["true"], tmp_path, {"runtime": "chroot"})
    with pytest.raises(ValueError, match="isolation"):
        sandbox.command(["true"], tmp_path, {"isolation": "none"})
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="bwrap is not installed"):
        sandbox.command(["true"], tmp_path, {"runtime": "bwrap"})


def test_docker_command_changes_no_host_permission(tmp_path):
    """The container runs as the invoking user; the job's directory is bound read-only and copied into a
    bounded tmpfs, so no host mode changes (the old runtime made it 0777)."""
    if sandbox.shutil.which("docker") is None:
        pytest.skip("docker CLI not installed")
    (tmp_path / "prog.py").write_text("pass")
    modes = {p: p.stat().st_mode for p in (tmp_path, tmp_path / "prog.py")}
    cmd = sandbox.command(["python", "-c", "1"], tmp_path, {"runtime": "docker", "image": "img:1", "disk_mb": 64})
    for flag in (["--network", "none"], ["--read-only"], ["--user", f"{os.getuid()}:{os.getgid()}"], ["--cap-drop", "ALL"],
                 ["--tmpfs", f"{tmp_path}:rw,exec,size=64m,mode=1777"], ["-v", f"{tmp_path}:/sandbox-input:ro"]):
        assert any(cmd[i:i + len(flag)] == flag for i in range(len(cmd))), flag
    assert cmd[-4:] == ["sandbox", "python", "-c", "1"] and "img:1" in cmd
    assert {p: p.stat().st_mode for p in modes} == modes


def test_docker_runtime_real_run(tmp_path):
    """One real container (the suite's Debian base image, when this Docker host has it): the job's
    0600 file is readable inside, a write stays in the container's tmpfs, host modes are unchanged."""
    docker = sandbox.shutil.which("docker")
    images = subprocess.run([docker, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "magicoder-repro/debian-base"],
                            capture_output=True, text=True).stdout.split() if docker else []
    if not images:
        pytest.skip("no Docker host with the magicoder-repro/debian-base image")
    tmp_path.chmod(0o700)
    (tmp_path / "in.txt").write_text("given\n")
    (tmp_path / "in.txt").chmod(0o600)
    modes = {p: p.stat().st_mode for p in (tmp_path, tmp_path / "in.txt")}
    proc = sandbox.run(["sh", "-c", "cat in.txt; echo x > out.txt; cat out.txt; touch /etc/x || echo read-only"],
                       tmp_path, {"runtime": "docker", "image": images[0], "disk_mb": 16}, timeout=120)
    assert proc.stdout.split() == ["given", "x", "read-only"], proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["in.txt"] and {p: p.stat().st_mode for p in modes} == modes
    slow = sandbox.run(["sleep", "60"], tmp_path, {"runtime": "docker", "image": images[0]}, timeout=2)
    assert slow.limits_hit == ["timeout"]
    left = subprocess.run([docker, "ps", "-q", "--filter", f"name={slow.args[slow.args.index('--name') + 1]}"],
                          capture_output=True, text=True).stdout
    assert left == ""  # the container died with its client
