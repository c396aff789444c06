"""Runs every host_*.py attack in the real sandbox and reports, as JSON, which ones got out.

Standard library only, so the unprivileged leg can run it with the system Python as a normal user:
    OPENAI_API_KEY=sk-... python3 run_attacks.py SCRIPTS_DIR '{"isolation": "strict"}' [--control]
The key stands for the scorer's secrets: it must be in this process's environment from the start.
--control runs the harmless batch without the sandbox (runtime none), to show the attacks work.
Attacks that harm nothing but the sandbox run together in one sandbox; those that break a limit
(processes, memory, disk, output, CPU, kill(-1)) each get their own, with small limits, in parallel.
An attack counts as escaped when it prints ESCAPED or when the host shows its effect.
"""
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, sys.argv[1])
from magicoder_repro.evaluate import sandbox  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402

CFG = json.loads(sys.argv[2])
TIGHT = {**CFG, "memory_mb": 128, "pids": 32, "disk_mb": 32, "output_kb": 64, "cpu_s": 2}
CONTROL = "--control" in sys.argv
SECRET = os.environ["OPENAI_API_KEY"]


def listen(sock):
    """Accept connections on `sock` in the background; the list fills with what arrives."""
    hits = []

    def accept():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            hits.append(conn.recv(100))
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return hits


def escaped(output: str) -> bool:
    """An attack program says ESCAPED at the start of a line only when its attack worked."""
    return any(line.startswith("ESCAPED") for line in output.splitlines())


def tagged_processes(tag: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if tag.encode() in open(f"/proc/{pid}/cmdline", "rb").read():
                found.append(int(pid))
        except OSError:
            pass
    return found


def main():
    report = {"uid": os.geteuid(), "isolation": CFG.get("isolation", "strict")}
    try:
        sandbox.check(CFG)
    except sandbox.SandboxUnavailable as e:
        print(json.dumps({**report, "refused": str(e)}))
        return
    work = Path(tempfile.mkdtemp(prefix="attacks-"))
    cache = Path.home() / ".cache" / f"adversarial-{os.getpid()}"
    cache.mkdir(parents=True)
    (cache / "token").write_text(SECRET)
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(cache / "service.sock"))
    unix.listen()
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    unix_hits, tcp_hits = listen(unix), listen(tcp)
    sibling = work.parent / f"{work.name}-sibling"
    daemon_tag = f"{secrets.randbelow(10**6) + 10**6}.5"
    readme = Path(sys.argv[1]).resolve().parent / "README.md"

    def cleanup():
        for pid in tagged_processes(daemon_tag):
            os.kill(pid, 9)
        unix.close()
        tcp.close()
        shutil.rmtree(cache)
        shutil.rmtree(work)

    for attack in HERE.glob("host_*.py"):
        shutil.copy(attack, work)
    before = sorted(os.listdir(work))
    me = str(os.getpid())
    together = {"shadow": [], "proc_sys": [], "environ": [SECRET], "proc_scorer": [me],
                "cache": [str(cache), str(cache / "service.sock")], "repo": [str(readme)], "ptrace": [me],
                "proc_self_mem": [me], "symlink": [str(readme)],
                "write_outside": [str(work / "escaped.txt"), str(sibling)],
                "network": [str(tcp.getsockname()[1])], "daemon": [daemon_tag]}
    runner = ("import subprocess, sys, json\nfor name, args in json.loads(sys.argv[1]).items():\n"
              "    p = subprocess.run(['python3', f'host_{name}.py', *args], capture_output=True, text=True)\n"
              "    print(json.dumps([name, p.stdout + p.stderr[-300:]]))\n")
    proc = sandbox.run(["python3", "-c", runner, json.dumps(together)], work, CFG, timeout=60)
    outputs = dict(json.loads(line) for line in proc.stdout.splitlines() if line.startswith("["))
    attacks = {name: {"escaped": escaped(outputs.get(name, "")), "output": outputs.get(name, "")[:300]}
               for name in together}
    assert len(outputs) == len(together), (proc.returncode, proc.stdout, proc.stderr)
    attacks["write_outside"]["escaped"] |= sibling.exists() or sorted(os.listdir(work)) != before
    sibling.unlink(missing_ok=True)
    attacks["symlink"]["escaped"] |= sorted(os.listdir(work)) != before
    attacks["cache"]["escaped"] |= bool(unix_hits)
    attacks["network"]["escaped"] = bool(tcp_hits)
    time.sleep(0.5)  # processes killed with the sandbox's pid namespace may take a moment to go
    attacks["daemon"]["escaped"] = bool(tagged_processes(daemon_tag))

    if CONTROL:  # the attacks below would harm the host itself
        print(json.dumps({**report, "attacks": attacks}))
        return cleanup()

    def alone(name, *args, cfg=TIGHT, timeout=30):
        return sandbox.run(["python3", f"host_{name}.py", *map(str, args)], work, cfg, timeout=timeout)

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    sibling_cfg = {**TIGHT, "memory_mb": 256}
    with ThreadPoolExecutor(8) as pool:
        runs = {"fork_bomb": pool.submit(alone, "fork_bomb", 64), "shm_fill": pool.submit(alone, "shm_fill", 200),
                "disk_fill": pool.submit(alone, "disk_fill", 40), "cpu_burn": pool.submit(alone, "cpu_burn"),
                "stdout_flood": pool.submit(alone, "stdout_flood", 300, timeout=60),
                "kill_all": pool.submit(alone, "kill_all"),
                "sibling": pool.submit(sandbox.run, ["python3", "-c", "import time; time.sleep(2); print('alive')"],
                                       work, sibling_cfg, 30)}
        runs = {k: v.result() for k, v in runs.items()}
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    for name, p in runs.items():
        attacks[name] = {"escaped": escaped(p.stdout), "returncode": p.returncode, "limits_hit": p.limits_hit,
                         "output": (p.stdout[-200:] + p.stderr[-300:])}
    flood = runs["stdout_flood"]
    attacks["stdout_flood"].update(escaped=rss_after - rss_before > 100 or len(flood.stdout) > 65 * 1024,
                                   kept_bytes=len(flood.stdout), rss_growth_mb=rss_after - rss_before)
    attacks["kill_all"]["escaped"] = runs["sibling"].stdout.strip() != "alive"
    attacks["cpu_burn"]["escaped"] |= "timeout" in runs["cpu_burn"].limits_hit  # the CPU limit, not the wall clock, must stop it
    huge = sandbox.run(["python3", "-c", "print('ran')", "x" * 300_000], work, TIGHT)
    attacks["huge_argv"] = {"escaped": huge.returncode == 0, "output": huge.stderr[-200:]}
    print(json.dumps({**report, "attacks": attacks}))
    cleanup()


if __name__ == "__main__":
    main()
