"""Runs generated code where it can do no harm: every program a model wrote goes through `run`.

EvalPlus and the MultiPL-E/DS-1000 harnesses only guard against accidents (a passing solution can still
write files, start processes and open sockets). Here the whole harness process runs inside a sandbox:
bubblewrap by default (read-only root, private /tmp, empty home, no network, pid/ipc/uts namespaces,
uid 65534, cleared environment, memory and time limits), or a container runtime (docker) where user
namespaces are not available. Only the job's work directory is writable. TOOLCHAINS says how each
language's program is built and run there, for evaluation and the execution filter alike.
"""
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

DEFAULTS = {"runtime": "bwrap", "memory_mb": 4096, "image": "magicoder-repro-eval:latest", "pids": 512}
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def toolchains() -> tuple[list[Path], dict]:
    """Read-only paths and variables the sandboxed harness needs from the hidden home directories: this
    Python (venv and base interpreter, e.g. pyenv under /root) and rustup's toolchains."""
    binds = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    env = {"PATH": f"{Path(sys.executable).parent}:{PATH}"}
    cargo, rustup = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")), Path(
        os.environ.get("RUSTUP_HOME", Path.home() / ".rustup"))
    if cargo.is_dir() and rustup.is_dir():
        binds |= {cargo.resolve(), rustup.resolve()}
        env.update(CARGO_HOME=str(cargo.resolve()), RUSTUP_HOME=str(rustup.resolve()),
                   PATH=f"{env['PATH']}:{cargo.resolve() / 'bin'}")
    return sorted(binds), env


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


class SandboxUnavailable(RuntimeError):
    """The configured runtime is missing: refuse to run generated code unsandboxed."""


def _bwrap(argv, workdir: Path, ro_binds, env, cfg) -> list[str]:
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: apt-get install bubblewrap, or set "
                                 "evaluation.sandbox.runtime to docker")
    cmd = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
           "--tmpfs", "/root", "--tmpfs", "/home", "--tmpfs", "/run",
           "--unshare-all", "--die-with-parent", "--new-session", "--uid", "65534", "--gid", "65534",
           "--hostname", "sandbox", "--clearenv"]
    tool_binds, tool_env = toolchains()
    for path in [*tool_binds, *ro_binds]:  # after the tmpfs mounts: paths under /root stay visible read-only
        cmd += ["--ro-bind", str(path), str(path)]
    cmd += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir)]
    for key, value in {"HOME": "/tmp", "LANG": "C.UTF-8", **tool_env, **env}.items():
        cmd += ["--setenv", key, str(value)]
    return cmd + ["--", *argv]


def _docker(argv, workdir: Path, ro_binds, env, cfg) -> list[str]:
    runtime = shutil.which("docker")
    if runtime is None:
        raise SandboxUnavailable("docker is not installed (evaluation.sandbox.runtime: docker)")
    cmd = [runtime, "run", "--rm", "-i", "--network", "none", "--read-only", "--tmpfs", "/tmp",
           "--user", "65534:65534", "--memory", f"{cfg['memory_mb']}m", "--pids-limit", str(cfg["pids"]),
           "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
           "-v", f"{workdir}:{workdir}", "-w", str(workdir)]
    # Bind mounts keep host permissions: let uid 65534 write the job's own directory and read the rest.
    workdir.chmod(0o777)
    for path in ro_binds:
        path.chmod(path.stat().st_mode | 0o005)
        cmd += ["-v", f"{path}:{path}:ro"]
    for key, value in {"HOME": "/tmp", **env}.items():
        cmd += ["-e", f"{key}={value}"]
    if argv and argv[0] == sys.executable:  # the host's interpreter is not in the image: use the image's
        argv = ["python", *argv[1:]]
    return cmd + [cfg["image"], *argv]


def command(argv, workdir, cfg: dict | None = None, ro_binds=(), env: dict | None = None) -> list[str]:
    """The argv that runs `argv` sandboxed in `workdir` (runtime `none` only for measuring overhead)."""
    cfg = {**DEFAULTS, **(cfg or {})}
    workdir = Path(workdir).resolve()
    if cfg["runtime"] == "none":
        return list(argv)
    wrap = {"bwrap": _bwrap, "docker": _docker}.get(cfg["runtime"])
    if wrap is None:
        raise ValueError(f"unknown sandbox runtime {cfg['runtime']!r} (bwrap, docker)")
    return wrap(argv, workdir, [Path(p).resolve() for p in ro_binds], env or {}, cfg)


def run(argv, workdir, cfg: dict | None = None, timeout: float = 60, ro_binds=(), env: dict | None = None,
        ) -> subprocess.CompletedProcess:
    """Run and wait; on timeout the whole process group dies (the pid namespace takes the rest along).
    The memory limit is an address-space-free data limit (RLIMIT_DATA), which JVMs and Node tolerate."""
    cfg = {**DEFAULTS, **(cfg or {})}
    limit = cfg["memory_mb"] * 2**20

    def limits():
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    cmd = command(argv, workdir, cfg, ro_binds, env)
    full_env = None if cfg["runtime"] != "none" else {"PATH": os.environ.get("PATH", PATH), "HOME": "/tmp", **(env or {})}
    proc = subprocess.Popen(cmd, cwd=workdir, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace", start_new_session=True,
                            preexec_fn=limits if cfg["runtime"] != "docker" else None)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return subprocess.CompletedProcess(cmd, -signal.SIGKILL, out, err + f"\n[sandbox] timed out after {timeout}s")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
