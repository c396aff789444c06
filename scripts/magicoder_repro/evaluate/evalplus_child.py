"""The sandboxed half of an EvalPlus check: run one sample on a task's inputs and report what it returned.

It knows the sample's code and the test inputs, never the expected outputs: the verdict is computed by
the scorer (evalplus_verdict.py) from the values reported here. Each test set (base, plus) runs in a
fresh forked process as EvalPlus's `untrusted_check` does: a temporary working directory, EvalPlus's
own `reliability_guard` (memory limit capped at what the sandbox allows), output swallowed, a per-input
time limit, and a stop at the first input that raises. One JSON line per input goes to the scorer:
[set, index, "ok", value], [set, index, "digest", sha256] for a value whose plain data exceeds 64 KiB
(HumanEval/15's strings run to megabytes), [set, index, "raised"]; ["exec", set, "raised"] when the code
does not load.
Run as `python -S evalplus_child.py JOB_DIR`; JOB_DIR holds job.json, solution.py and this file's
neighbours plain_data.py and evalplus_guard.py (EvalPlus's eval/utils.py, copied).
"""
import json
import os
import resource
import select
import signal
import sys
from pathlib import Path

import evalplus_guard as guard
import plain_data

GIB4 = 4 * 2**30  # EvalPlus's default EVALPLUS_MAX_MEMORY_BYTES
# Modules EvalPlus's worker has loaded before the guard and that cannot be imported under it (numpy calls
# os.putenv): imported first where the sample's code names them (always would cost every sample ~0.1 s).
PRELOADED = ("numpy", "multiprocessing")


def memory_bytes() -> int:
    """EvalPlus's 4 GiB (or the machine's RAM), lowered to the sandbox's own limits: raising a hard
    limit fails, which in EvalPlus turns every sample into a timeout."""
    limits = [GIB4, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")]
    for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA, resource.RLIMIT_STACK):
        hard = resource.getrlimit(which)[1]
        if hard != resource.RLIM_INFINITY:
            limits.append(hard)
    return min(limits)


def emit(fd: int, record: list | str):
    """One report line (a record, or its JSON text already made)."""
    data = ((record if isinstance(record, str) else json.dumps(record, separators=(",", ":"))) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def report(name: str, i: int, value) -> list | str:
    """[set, i, "ok", plain data], or for a large value with a normal form [set, i, "digest", sha256]."""
    try:
        if plain_data.larger_than(value, plain_data.DIGEST_ABOVE):
            return [name, i, "digest", plain_data.digest(value)]
    except BaseException:  # no normal form (numpy, an iterator, NaN), or the value's own code raised: sent whole
        pass
    try:
        text = plain_data.dumps(value)
    except BaseException:  # too deep, too long, or an iterator that raised: nothing to compare
        return [name, i, "ok", {plain_data.TAG: "opaque", "type": "unencodable"}]
    return f"[{json.dumps(name)},{i},\"ok\",{text}]"


def run_set(fd: int, job: dict, name: str, inputs: list, limits: list, code: str, memory: int):
    """unsafe_execute's order of events, with the comparison left to the scorer."""
    with guard.create_tempdir():
        guard.reliability_guard(maximum_memory_bytes=memory)
        env = {}
        try:
            with guard.swallow_io():
                exec(code, env)
                fn = env[job["entry_point"]]
        except BaseException:
            emit(fd, ["exec", name, "raised"])
            return
        for i, inp in enumerate(inputs):
            try:
                with guard.time_limit(limits[i]):
                    with guard.swallow_io():
                        out = fn(*inp)
            except BaseException:
                emit(fd, [name, i, "raised"])
                return
            emit(fd, report(name, i, out))


def main(job_dir: str):
    job = json.loads(Path(job_dir, "job.json").read_text())
    code = Path("solution.py").read_text()
    packages = [p for p in job["site_packages"] if os.path.isdir(p)]  # started with -S: no .pth files run
    if packages:
        sys.path.extend(packages)
    else:  # another interpreter than the scorer's (the docker runtime's image): its own packages
        import site

        site.main()
    memory = memory_bytes()
    for module in PRELOADED:
        if module in code:
            __import__(module)
    fd = os.dup(1)  # the reports; the program's own writes to fd 1 go nowhere
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    for test_set in job["sets"]:
        inputs = [plain_data.decode(x) for x in test_set["inputs"]]
        pid = os.fork()
        if pid == 0:
            try:
                run_set(fd, job, test_set["name"], inputs, test_set["time_limits"], code, memory)
            finally:
                os._exit(0)
        # EvalPlus's process timeout for this set; past it the set's remaining inputs count as timed out.
        ready, _, _ = select.select([os.pidfd_open(pid)], [], [], test_set["timeout"])
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main(sys.argv[1])
