"""Host attacks from generated code (tests/adversarial/host_*.py), in the real bubblewrap sandbox, as root
and as a normal user: every attack fails, a program that breaks a limit fails alone, and the same
attacks succeed without the sandbox (so each one can fail). The driver, run_attacks.py, needs only the
standard library, so the normal user runs it with the system Python."""
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys

import pytest

from eval_helpers import REPO

DRIVER = REPO / "tests/adversarial/run_attacks.py"
USER = "sandbox-test"
LIMIT_ATTACKS = {"fork_bomb", "shm_fill", "disk_fill", "cpu_burn", "stdout_flood", "kill_all", "huge_argv"}


def attack(cfg: dict, *flags, user: str | None = None) -> dict:
    """The driver's report; the fake API key is in its environment from the start, as a scorer's is."""
    env = {"PATH": os.environ["PATH"], "HOME": pwd.getpwnam(user).pw_dir if user else os.environ["HOME"],
           "OPENAI_API_KEY": "sk-adversarial-" + secrets.token_hex(8)}
    cmd = [sys.executable, str(DRIVER), str(REPO / "scripts"), json.dumps(cfg), *flags]
    if user:
        cmd = ["runuser", "-u", user, "--", "/usr/bin/python3", *cmd[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def normal_user():
    """A normal account to run the driver as (made here when missing; needs root)."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    if shutil.which("runuser") is None or not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("runuser or /usr/bin/python3 missing: cannot run as a normal user")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/usr/sbin/nologin", USER], check=True)
    return USER


def assert_all_blocked(report):
    escaped = {name: a for name, a in report["attacks"].items() if a["escaped"]}
    assert not escaped, json.dumps(escaped, indent=1)
    assert LIMIT_ATTACKS | {"shadow", "environ", "cache", "ptrace", "daemon"} <= set(report["attacks"])
    flood = report["attacks"]["stdout_flood"]
    assert flood["kept_bytes"] == 64 * 1024 and flood["rss_growth_mb"] < 100 and "output" in flood["limits_hit"]
    assert report["attacks"]["sibling"]["output"].strip() == "alive"  # untouched by the kill(-1) beside it


def test_host_attacks_fail_as_root():
    if os.geteuid() != 0:
        pytest.skip("the root leg needs root")
    report = attack({"isolation": "strict"})
    assert report["uid"] == 0
    assert_all_blocked(report)
    # The memory cgroup, not a tmpfs or rlimit, stopped the shared-memory attack.
    assert "memory" in report["attacks"]["shm_fill"]["limits_hit"]


def test_host_attacks_fail_as_normal_user(normal_user):
    """A normal user gets no cgroup here (v1, root's): the strict default refuses in one line naming the
    setting; `isolation: weak` runs with the per-process limits, and every attack still fails."""
    refused = attack({"isolation": "strict"}, user=normal_user if os.geteuid() == 0 else None)
    if "refused" in refused:
        assert "evaluation.sandbox.isolation: weak" in refused["refused"] and "\n" not in refused["refused"]
    report = attack({"isolation": "weak"}, user=normal_user if os.geteuid() == 0 else None)
    assert report["uid"] != 0
    assert_all_blocked(report)


def test_attacks_work_without_sandbox():
    """Runtime none, the harmless batch only (the limit attacks would hit the host): each attack works."""
    report = attack({"runtime": "none"}, "--control")
    failed = {name for name, a in report["attacks"].items() if not a["escaped"]}
    expected_to_fail_as_user = {"shadow", "proc_sys", "write_outside"} if report["uid"] else set()
    assert failed <= expected_to_fail_as_user, failed
