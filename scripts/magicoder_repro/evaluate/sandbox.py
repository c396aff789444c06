"""Runs generated code where it can do no harm: every program a model wrote goes through `run`.

EvalPlus and the MultiPL-E/DS-1000 harnesses only guard against accidents, so each program (or EvalPlus's
whole evaluate process) runs in bubblewrap, the same way whether the pipeline runs as root or not:
- as an unprivileged uid with no capabilities in fresh user, pid, network, ipc, uts and cgroup
  namespaces: a root scorer first drops to the host's nobody (65534), so the sandbox's uid maps to
  nobody, never to root; further user namespaces are disabled inside;
- seeing only the toolchain (/usr and its /bin, /lib links, a few /etc entries, this Python's prefixes,
  rustup/cargo), its own /proc, read-only binds of exactly the inputs it is given (`ro_binds`), and one
  private tmpfs of bounded size (`disk_mb`) as its work directory and /tmp, another as /dev/shm. The work directory
  starts as a copy of the host `workdir`'s files; nothing is written back: the caller reads stdout and
  stderr only, each kept up to `output_kb` and read in chunks (the rest is dropped);
- with an environment of ENV_ALLOWED plus what the caller passes;
- under per-program limits (`limits`): wall time, CPU seconds per process, memory (a memory cgroup: tmpfs,
  /dev/shm and shared mappings count) and processes (a pids cgroup). Where no cgroup can be created,
  isolation `weak` accepts per-process address-space and in-sandbox process limits instead; by default
  the sandbox refuses (SandboxUnavailable), never falls back silently.
The docker runtime runs the toolchain image as the invoking user with the same work-area semantics.
TOOLCHAINS says how each language's program is built and run, for evaluation and the execution filter.
"""
import errno
import itertools
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from functools import cache
from pathlib import Path
from typing import NamedTuple

# Config keys of evaluation.sandbox with their defaults (schemas/config.schema.yaml describes each).
DEFAULTS = {"runtime": "bwrap", "isolation": "strict", "image": "magicoder-repro-eval:latest",
            "memory_mb": 4096, "pids": 512, "cpu_s": 3600, "disk_mb": 1024, "output_kb": 4096}
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NOBODY = 65534  # the host uid/gid a root scorer runs untrusted code as
# Environment inside the sandbox: these (set here) plus the caller's `env`; nothing else of the scorer's.
ENV_ALLOWED = ("PATH", "HOME", "TMPDIR", "LANG", "PWD", "CARGO_HOME", "RUSTUP_HOME")
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# /etc entries the toolchains read: the dynamic linker's cache, Debian's alternatives (java, c++, php),
# the JDK's, PHP's and Mono's configuration. Nothing else of the host's /etc (no passwd, shadow, ssl).
ETC_ENTRIES = ("alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "php", "mono",
               "java-17-openjdk", "java-21-openjdk")
_names = itertools.count()


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot give its guarantees here: refuse to run generated code."""


def limits(cfg: dict | None = None) -> dict:
    """The per-program limits a config gives (defaults filled in), for callers that size their own."""
    cfg = {**DEFAULTS, **(cfg or {})}
    return {k: cfg[k] for k in ("memory_mb", "pids", "cpu_s", "disk_mb", "output_kb")}


def toolchains() -> tuple[list[Path], dict]:
    """Read-only paths and variables the sandboxed harness needs outside /usr: this Python (venv and base
    interpreter, e.g. pyenv under /root) and rustup's toolchains."""
    binds = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    env = {"PATH": f"{Path(sys.executable).parent}:{PATH}"}
    cargo, rustup = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")), Path(
        os.environ.get("RUSTUP_HOME", Path.home() / ".rustup"))
    if cargo.is_dir() and rustup.is_dir():
        binds |= {cargo.resolve(), rustup.resolve()}
        env.update(CARGO_HOME=str(cargo.resolve()), RUSTUP_HOME=str(rustup.resolve()),
                   PATH=f"{env['PATH']}:{cargo.resolve() / 'bin'}")
    return sorted(p for p in binds if not any(p.is_relative_to(s) for s in SYSTEM_PATHS)), env


class Toolchain(NamedTuple):
    file: str   # the program's file name
    tool: str   # the executable it needs; where it is missing the language is not run
    build: str  # shell command in the program's directory that compiles it ("": nothing to compile)
    run: str    # shell command that runs it; exit status 0 = pass

    @property
    def command(self) -> str:
        """Build, then run, as one shell command."""
        return f"{self.build} && {self.run}" if self.build else self.run


# As bigcode-evaluation-harness's MultiPL-E containers run programs; the evaluation image installs all
# but swiftc (containers/eval/Dockerfile). PHP compiles assert() out by default (zend.assertions -1).
# TypeScript and C# (Debian's tsc 4.8 and Mono's mcs, which reads C# up to 7) serve the execution filter
# only: MultiPL-E names them ts and cs, which stay unaliased. *.ts takes in declaration files beside
# the program; -d:DEBUG keeps Debug.Assert, which prog.exe.config can make fatal.
TOOLCHAINS = {
    "python": Toolchain("prog.py", "python3", "", "python3 -I prog.py"),
    "cpp": Toolchain("prog.cpp", "g++", "g++ -std=c++17 -o prog prog.cpp", "./prog"),
    "java": Toolchain("Problem.java", "javac", "javac -d . Problem.java", "java -ea -cp . Problem"),
    "js": Toolchain("prog.js", "node", "", "node prog.js"),
    "php": Toolchain("prog.php", "php", "", "php -d zend.assertions=1 prog.php"),
    "rust": Toolchain("prog.rs", "rustc", "rustc --edition 2021 -o prog prog.rs", "./prog"),
    "shell": Toolchain("prog.sh", "bash", "", "bash prog.sh"),
    "swift": Toolchain("prog.swift", "swiftc", "swiftc -o prog prog.swift", "./prog"),
    "typescript": Toolchain("prog.ts", "tsc", "tsc --target es2020 --module commonjs --esModuleInterop "
                                             "--outDir out *.ts", "node out/prog.js"),
    "csharp": Toolchain("prog.cs", "mcs", "mcs -d:DEBUG -out:prog.exe prog.cs", "mono prog.exe"),
}
ALIASES = {"javascript": "js", "rs": "rust", "c++": "cpp", "sh": "shell", "bash": "shell"}  # MultiPL-E's names


def toolchain(lang: str) -> Toolchain | None:
    return TOOLCHAINS.get(ALIASES.get(lang, lang))


# ---------------------------------------------------------------- what the host offers
WEAK_HINT = ("set evaluation.sandbox.isolation: weak to accept per-process limits instead (address space, "
             "processes counted inside the sandbox, bounded tmpfs)")


@cache
def cgroup_parents() -> dict[str, Path] | None:
    """Writable cgroups, under this process's own, in which a child per program can be made: cgroup v1
    {"memory": dir, "pids": dir}, or v2 {"unified": dir} where memory and pids are delegated to children.
    None where there is none (e.g. v1 as a normal user)."""
    mounts = {}  # controller (v1) or "" (v2) -> mount point
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype, _, options = right.split(" ")[:3]
        if fstype == "cgroup2":
            mounts.setdefault("", left.split(" ")[4])
        elif fstype == "cgroup":
            for controller in {"memory", "pids"} & set(options.split(",")):
                mounts[controller] = left.split(" ")[4]
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            own[c] = path.lstrip("/")
    v1 = {c: Path(mounts[c], own[c]) for c in ("memory", "pids") if c in mounts and c in own}
    if len(v1) == 2 and all(os.access(d, os.W_OK) for d in v1.values()):
        return v1
    if "" in mounts and "" in own:
        base = Path(mounts[""], own[""])
        delegated = set((base / "cgroup.subtree_control").read_text().split()) if base.exists() else set()
        if {"memory", "pids"} <= delegated and os.access(base, os.W_OK):
            return {"unified": base}
    return None


@cache
def _userns_error(as_nobody: bool) -> str | None:
    """Why bubblewrap cannot make an unprivileged user namespace here (None: it can)."""
    probe = _drop(as_nobody) + ["bwrap", "--unshare-user", "--unshare-pid", "--disable-userns", "--ro-bind",
                                "/usr", "/usr", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/lib",
                                "/lib", "--proc", "/proc", "--", "/usr/bin/true"]
    proc = subprocess.run(probe, capture_output=True, text=True, env={"PATH": PATH})
    return None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]


def _drop(as_nobody: bool) -> list[str]:
    """Prefix that makes a root scorer's child the host's nobody with no supplementary groups."""
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"] if as_nobody else []


def check(cfg: dict | None = None) -> None:
    """Raise SandboxUnavailable, one line naming what is missing and the setting that accepts less, where
    the configured sandbox cannot be had."""
    cfg = {**DEFAULTS, **(cfg or {})}
    if cfg["isolation"] not in ("strict", "weak"):
        raise ValueError(f"evaluation.sandbox.isolation must be strict or weak, not {cfg['isolation']!r}")
    if cfg["runtime"] != "bwrap":
        return
    for tool in ("bwrap", "setpriv") if os.geteuid() == 0 else ("bwrap",):
        if shutil.which(tool) is None:
            raise SandboxUnavailable(f"{tool} is not installed (apt-get install bubblewrap util-linux), or set "
                                     "evaluation.sandbox.runtime: docker")
    error = _userns_error(os.geteuid() == 0)
    if error:
        raise SandboxUnavailable(f"bubblewrap cannot create an unprivileged user namespace ({error}): enable "
                                 "them (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone) or set "
                                 "evaluation.sandbox.runtime: docker")
    if cfg["isolation"] == "strict" and cgroup_parents() is None:
        raise SandboxUnavailable(f"no cgroup with the memory and pids controllers can be created for uid "
                                 f"{os.geteuid()} (cgroup v1 not writable, or v2 not delegated): {WEAK_HINT}")


# ---------------------------------------------------------------- bubblewrap
def _cgroup_dirs(cfg) -> dict[str, Path]:
    """Fresh per-program cgroup paths (removed by `run`); empty when there is no cgroup (weak)."""
    parents = cgroup_parents()
    if parents is None:
        return {}
    name = f"magicoder-sandbox-{os.getpid()}-{next(_names)}-{uuid.uuid4().hex[:6]}"
    return {c: parent / name for c, parent in parents.items()}


def _cgroup_limits(controller: str, cfg) -> dict[str, int]:
    """Limit files of a program's cgroup (swap counts as memory). Files the kernel lacks are skipped."""
    memory = cfg["memory_mb"] * 2**20
    return {"memory": {"memory.limit_in_bytes": memory, "memory.memsw.limit_in_bytes": memory},
            "pids": {"pids.max": cfg["pids"]},
            "unified": {"memory.max": memory, "memory.swap.max": 0, "pids.max": cfg["pids"]}}[controller]


def _make_cgroups(cgroups: dict[str, Path], cfg) -> None:
    for controller, path in cgroups.items():
        path.mkdir()
        for name, value in _cgroup_limits(controller, cfg).items():
            if (path / name).exists():
                (path / name).write_text(str(value))


def _launcher(cgroups: dict[str, Path], cfg, made: bool) -> str:
    """Shell lines run by the scorer's uid before bubblewrap: make (unless `made`) and join the program's
    cgroups, set its rlimits. A cgroup that cannot be joined stops the launch."""
    lines = []
    for controller, path in cgroups.items():
        if not made:
            lines.append(f"mkdir {shlex.quote(str(path))}")
            for name, value in _cgroup_limits(controller, cfg).items():
                target = shlex.quote(str(path / name))
                lines.append(f"{{ ! [ -e {target} ] || echo {value} > {target}; }}")
        lines.append(f"echo $$ > {shlex.quote(str(path / 'cgroup.procs'))}")
    lines.append(f"ulimit -c 0 -t {int(cfg['cpu_s'])} -f {cfg['disk_mb'] * 1024}")
    if not cgroups:
        lines.append(f"ulimit -v {cfg['memory_mb'] * 1024}")
    return " && ".join(lines)


def _hidden_ancestor(path: Path) -> Path | None:
    """The topmost directory above `path` that others cannot search (e.g. /root, 0700), or None."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not parent.stat().st_mode & 0o001:
            return parent
    return None


def _staging(sources) -> list[str]:
    """For a root scorer: a privileged bwrap that only makes the bind sources under unsearchable
    directories (pyenv or the cache under /root) reachable for nobody's bwrap: such a directory becomes
    an empty tmpfs holding those sources alone. Nothing else changes (no namespace but the mount one)."""
    hidden = {}
    for src in sources:
        top = _hidden_ancestor(src)
        if top is not None:
            hidden.setdefault(top, []).append(src)
    if not hidden:
        return []
    cmd = ["bwrap", "--bind", "/", "/", "--dev-bind", "/dev", "/dev"]
    for top, srcs in sorted(hidden.items()):
        cmd += ["--perms", "0755", "--tmpfs", str(top)]
        made = set()
        for src in sorted(srcs):
            for d in reversed(src.parents):
                if d.is_relative_to(top) and d != top and d not in made:
                    made.add(d)
                    cmd += ["--perms", "0755", "--dir", str(d)]
            cmd += ["--ro-bind", str(src), str(src)]
    return [*cmd, "--"]


def _system_view() -> list[str]:
    """bwrap options for the toolchain's part of the host: SYSTEM_PATHS and ETC_ENTRIES read-only, its own
    /proc and /dev."""
    cmd = []
    for path in SYSTEM_PATHS:
        if os.path.islink(path):
            cmd += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            cmd += ["--ro-bind", path, path]
    for name in ETC_ENTRIES:
        if os.path.lexists(f"/etc/{name}"):
            cmd += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return cmd + ["--proc", "/proc", "--dev", "/dev"]


def _writable_area(workdir: Path, size: str, fd_of) -> list[str]:
    """bwrap options for the two tmpfs of bounded size that are the whole writable area (the work
    directory with /tmp, and /dev/shm), the work directory's starting contents copied in (each file
    through a descriptor `fd_of` opens in the launcher)."""
    if workdir.is_relative_to("/tmp"):
        cmd = ["--size", size, "--perms", "1777", "--tmpfs", "/tmp", "--dir", str(workdir)]
    else:
        cmd = ["--size", size, "--tmpfs", str(workdir), "--symlink", str(workdir), "/tmp"]
    cmd += ["--size", size, "--perms", "1777", "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
    for path in sorted(workdir.rglob("*")):
        inside = str(path)
        if path.is_symlink():
            cmd += ["--symlink", os.readlink(path), inside]
        elif path.is_dir():
            cmd += ["--perms", "0755", "--dir", inside]
        else:
            cmd += ["--perms", f"{path.stat().st_mode & 0o755 | 0o600:o}", "--file", fd_of(path), inside]
    return cmd


def _read_only(workdir: Path, ro_binds, as_nobody: bool) -> tuple[list[str], list[Path], dict]:
    """bwrap options binding the toolchains and `ro_binds` read-only (and a venv's symlinked prefix), the
    bound paths, and the toolchains' environment. A bind nobody could not read is an error up front."""
    for path in ro_binds if as_nobody else ():
        if not path.stat().st_mode & (0o005 if path.is_dir() else 0o004):
            raise ValueError(f"{path} (ro_binds) is not readable by the sandbox's uid {NOBODY}: make it readable "
                             "by others, or put the files in the work directory")
    tool_binds, tool_env = toolchains()
    binds = [*tool_binds, *ro_binds]
    cmd = []
    for path in binds:
        cmd += ["--ro-bind", str(path), str(path)]
    for alias in {Path(sys.prefix), Path(sys.base_prefix)}:  # a venv reached through a symlink
        if alias.resolve() != alias and not alias.is_relative_to(workdir):
            cmd += ["--symlink", str(alias.resolve()), str(alias)]
    return cmd, binds, tool_env


def _bwrap(argv, workdir: Path, ro_binds, env, cfg, cgroups, made) -> list[str]:
    """The launch command: a bash launcher (opens the work directory's files, joins the program's cgroups,
    sets rlimits), for a root scorer staging and setpriv to nobody, then bwrap in a user namespace."""
    as_nobody = os.geteuid() == 0
    fds, opens = itertools.count(10), []

    def fd_of(path: Path) -> str:
        fd = str(next(fds))
        opens.append(f"{fd}<{shlex.quote(str(path))}")
        return fd

    cmd = ["bwrap", "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try", "--disable-userns", "--cap-drop", "ALL", "--die-with-parent", "--new-session",
           "--hostname", "sandbox", "--clearenv", *_system_view(),
           *_writable_area(workdir, str(cfg["disk_mb"] * 2**20), fd_of)]
    binds_cmd, binds, tool_env = _read_only(workdir, ro_binds, as_nobody)
    cmd += [*binds_cmd, "--remount-ro", "/", "--chdir", str(workdir)]
    for key, value in {"HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8", **tool_env, **env}.items():
        cmd += ["--setenv", key, str(value)]
    if not cgroups:  # weak: processes counted per user namespace, so the limit is set once inside it
        argv = ["prlimit", f"--nproc={cfg['pids']}", "--", *argv]
    launch = _launcher(cgroups, cfg, made) + (f" && exec {' '.join(opens)}" if opens else "")
    stage = _staging(binds) if as_nobody else []
    return ["bash", "--norc", "--noprofile", "-c", f'{launch} && exec "$@"', "sandbox",
            *stage, *_drop(as_nobody), *cmd, "--", *argv]


# ---------------------------------------------------------------- docker
def _docker(argv, workdir: Path, ro_binds, env, cfg, cgroups, made) -> list[str]:
    """The toolchain image as the invoking user, changing nothing on the host: the job's files are bound
    read-only and copied into a bounded tmpfs work directory; nothing is written back."""
    runtime = shutil.which("docker")
    if runtime is None:
        raise SandboxUnavailable("docker is not installed (evaluation.sandbox.runtime: docker)")
    memory = f"{cfg['memory_mb']}m"
    cmd = [runtime, "run", "--rm", "-i", "--name", f"magicoder-sandbox-{uuid.uuid4().hex[:12]}", "--network", "none",
           "--read-only", "--user", f"{os.getuid()}:{os.getgid()}",
           "--memory", memory, "--memory-swap", memory, "--pids-limit", str(cfg["pids"]),
           "--ulimit", f"cpu={int(cfg['cpu_s'])}", "--ulimit", "core=0",
           "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
           "--tmpfs", f"{workdir}:rw,exec,size={cfg['disk_mb']}m,mode=1777",
           "--tmpfs", f"/tmp:rw,size={cfg['disk_mb']}m,mode=1777",
           "-v", f"{workdir}:/sandbox-input:ro", "-w", str(workdir)]
    for path in ro_binds:
        cmd += ["-v", f"{path}:{path}:ro"]
    for key, value in {"HOME": "/tmp", **env}.items():
        cmd += ["-e", f"{key}={value}"]
    if argv and argv[0] == sys.executable:  # the host's interpreter is not in the image: use the image's
        argv = ["python", *argv[1:]]
    return cmd + [cfg["image"], "sh", "-c", 'cp -R /sandbox-input/. . && exec "$@"', "sandbox", *argv]


def command(argv, workdir, cfg: dict | None = None, ro_binds=(), env: dict | None = None) -> list[str]:
    """The argv that runs `argv` sandboxed in `workdir` (runtime `none` only for measuring overhead).
    Use `run`: it also bounds the output and removes the program's cgroup afterwards."""
    cfg = {**DEFAULTS, **(cfg or {})}
    return _command(argv, workdir, cfg, ro_binds, env, _cgroup_dirs(cfg) if cfg["runtime"] == "bwrap" else {}, False)


def _command(argv, workdir, cfg, ro_binds, env, cgroups, made) -> list[str]:
    workdir = Path(workdir).resolve()
    if cfg["runtime"] == "none":
        return list(argv)
    wrap = {"bwrap": _bwrap, "docker": _docker}.get(cfg["runtime"])
    if wrap is None:
        raise ValueError(f"unknown sandbox runtime {cfg['runtime']!r} (bwrap, docker)")
    check(cfg)
    return wrap(argv, workdir, [Path(p).resolve() for p in ro_binds], env or {}, cfg, cgroups, made)


# ---------------------------------------------------------------- running
def _read_bounded(proc, deadline: float, keep: int) -> tuple[bytes, bytes, bool, bool]:
    """stdout and stderr, each up to `keep` bytes, read in chunks until both close or the deadline passes;
    the rest is read and dropped, so a flood costs the scorer no memory. -> out, err, truncated, timed out."""
    kept = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    truncated = False
    with selectors.DefaultSelector() as sel:
        for stream in kept:
            sel.register(stream, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(kept[proc.stdout]), bytes(kept[proc.stderr]), truncated, True
            for key, _ in sel.select(min(left, 1.0)):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf = kept[key.fileobj]
                room = keep - len(buf)
                truncated |= len(chunk) > room
                buf += chunk[:max(room, 0)]
    return bytes(kept[proc.stdout]), bytes(kept[proc.stderr]), truncated, False


def _remove_cgroups(cgroups: dict[str, Path]) -> bool:
    """Remove the program's cgroups once its processes are gone; True if it hit the memory limit."""
    oom = False
    for controller, path in cgroups.items():
        if not path.exists():
            continue
        events = path / ("memory.oom_control" if controller == "memory" else "memory.events")
        if events.exists():
            counts = dict(line.split() for line in events.read_text().splitlines())
            oom |= int(counts.get("oom_kill", 0)) > 0
        for _ in range(500):
            try:
                path.rmdir()
                break
            except OSError:  # processes still exiting
                for pid in (path / "cgroup.procs").read_text().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.01)
    return oom


def run(argv, workdir, cfg: dict | None = None, timeout: float = 60, ro_binds=(), env: dict | None = None,
        ) -> subprocess.CompletedProcess:
    """Run and wait, with the config's limits; on timeout the whole sandbox dies (its pid namespace
    takes every process along). The result's stdout/stderr are text, each at most output_kb; its
    `limits_hit` lists the limits the program ran into (timeout, memory, output)."""
    cfg = {**DEFAULTS, **(cfg or {})}
    cgroups = _cgroup_dirs(cfg) if cfg["runtime"] == "bwrap" else {}
    cmd = _command(argv, workdir, cfg, ro_binds, env, cgroups, True)
    full_env = {"PATH": PATH}
    if cfg["runtime"] == "none":
        full_env.update(PATH=os.environ.get("PATH", PATH), HOME="/tmp", **(env or {}))
    try:
        _make_cgroups(cgroups, cfg)
        proc = subprocess.Popen(cmd, cwd=workdir if cfg["runtime"] == "none" else "/", env=full_env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except OSError as e:  # e.g. a program given as a huge argument: it fails alone, the run goes on
        _remove_cgroups(cgroups)
        if e.errno != errno.E2BIG:
            raise
        result = subprocess.CompletedProcess(cmd, 126, "", f"[sandbox] not started: {e.strerror}")
        result.limits_hit = ["argv"]
        return result
    try:
        out, err, truncated, timed_out = _read_bounded(proc, time.monotonic() + timeout, cfg["output_kb"] * 1024)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            if cfg["runtime"] == "docker":  # the container outlives its client
                subprocess.run([cmd[0], "kill", cmd[cmd.index("--name") + 1]], capture_output=True)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        oom = _remove_cgroups(cgroups)
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    hit = [name for name, flag in (("timeout", timed_out), ("memory", oom), ("output", truncated)) if flag]
    if truncated:
        err += f"\n[sandbox] output beyond {cfg['output_kb']} KiB per stream dropped"
    if timed_out:
        err += f"\n[sandbox] timed out after {timeout}s"
    result = subprocess.CompletedProcess(cmd, -signal.SIGKILL if timed_out else proc.returncode, out, err)
    result.limits_hit = hit
    return result


def run_steps(steps, workdir, cfg: dict | None = None, ro_binds=(), env: dict | None = None,
              ) -> subprocess.CompletedProcess:
    """Shell commands (command, seconds) run one after the other in one sandbox, so that a build's output
    reaches the run (nothing persists between two `run` calls), each under its own time limit; it stops
    at the first that fails. A step out of time reads as a timeout ("timeout" in limits_hit)."""
    script = " && ".join(f"timeout -k 1 {seconds} bash -c {shlex.quote(cmd)}" for cmd, seconds in steps)
    total = sum(seconds + 2 for _, seconds in steps)
    proc = run(["bash", "-c", script], workdir, cfg, timeout=total, ro_binds=ro_binds, env=env)
    if proc.returncode == 124 and "timeout" not in proc.limits_hit:  # coreutils timeout's status
        proc.limits_hit.append("timeout")
        proc.stderr += "\n[sandbox] timed out (a step ran past its limit)"
    return proc
