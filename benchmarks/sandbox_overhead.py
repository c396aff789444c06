"""Cost of the trusted verdict path: HumanEval+ and MBPP+ scored by the pipeline (a sandboxed child per
sample reporting return values, the verdict in the scorer) against plain `evalplus.evaluate` (one
unsandboxed process, verdicts computed inside the samples' processes) on the same solutions.

Both score, per task, the canonical solution, the self-check's broken one and the canonical again as a
model sample (every test runs to completion for two of three). Expected outputs are computed first and
cached, so the timings cover the evaluation alone. Runs alternate (plain, pipeline, ...) to spread
machine noise. First, what one program pays to start: N runs each of `true` and `python3 prog.py`
through `sandbox.run` (cgroups made and removed, launcher, setpriv, bubblewrap), through the previous
sandbox's command line (one bwrap call: --ro-bind / /, --uid 65534 mapped to the caller) and unsandboxed,
interleaved.

    OMP_NUM_THREADS=1 python benchmarks/sandbox_overhead.py --repeats 2
    python benchmarks/sandbox_overhead.py --startup 100 --startup-only
"""
import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from magicoder_repro.evaluate import benchmarks as eval_benchmarks, score as eval_score, evalplus_verdict, sandbox  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402

DATA = {"humaneval": "data/benchmarks/evalplus/HumanEvalPlus-v0.1.10.jsonl.gz",
        "mbpp": "data/benchmarks/evalplus/MbppPlus-v0.2.0.jsonl.gz"}
PLAIN = """
import os, resource, sys, time
from evalplus.evaluate import evaluate
t0 = time.time()
evaluate(dataset=sys.argv[1], samples=sys.argv[2], parallel=int(sys.argv[3]), min_time_limit=float(sys.argv[4]))
print("SECONDS", time.time() - t0, "PEAK_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, flush=True)
os._exit(0)
"""


def plain_evalplus(kind: str, task_file: Path, rows: list[dict], workdir: Path, parallel: int, min_time_limit: float
                   ) -> tuple[float, int]:
    """evalplus.evaluate's own seconds on the pipeline's three solutions per task, and its process's peak
    resident MB."""
    samples = workdir / f"plain-{time.time_ns()}.jsonl"
    lines = []
    for r in rows:
        canonical = r["prompt"] + r["canonical_solution"] if kind == "humaneval" else r["canonical_solution"]
        for code in (canonical, canonical, eval_score.broken_python(canonical, r["entry_point"])):
            lines.append(json.dumps({"task_id": r["task_id"], "solution": code}))
    samples.write_text("\n".join(lines) + "\n")
    var = "HUMANEVAL_OVERRIDE_PATH" if kind == "humaneval" else "MBPP_OVERRIDE_PATH"
    out = subprocess.run([sys.executable, "-c", PLAIN, kind, str(samples), str(parallel), str(min_time_limit)],
                         env={**os.environ, var: str(task_file)}, capture_output=True, text=True, check=True).stdout
    seconds, peak = out.split("SECONDS")[1].split("PEAK_MB")
    return float(seconds), int(peak)


def previous_sandbox(argv, workdir) -> list[str]:
    """The sandbox before the hardening (its bwrap command line), for comparison only."""
    tool_binds, tool_env = sandbox.toolchains()
    cmd = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/root",
           "--tmpfs", "/home", "--tmpfs", "/run", "--unshare-all", "--die-with-parent", "--new-session", "--uid",
           "65534", "--gid", "65534", "--hostname", "sandbox", "--clearenv"]
    for path in tool_binds:
        cmd += ["--ro-bind", str(path), str(path)]
    cmd += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir)]
    for key, value in {"HOME": "/tmp", "LANG": "C.UTF-8", **tool_env}.items():
        cmd += ["--setenv", key, value]
    return cmd + ["--", *argv]


def startup(n: int):
    """Median milliseconds per program start, for each way of starting it."""
    with tempfile.TemporaryDirectory() as work:
        Path(work, "prog.py").write_text("pass\n")
        for argv in (["true"], ["python3", "prog.py"]):
            ways = {"unsandboxed": lambda: subprocess.run(argv, cwd=work, check=True),
                    "previous bwrap": lambda: subprocess.run(previous_sandbox(argv, work), check=True),
                    "sandbox.run": lambda: sandbox.run(argv, work, {"runtime": "bwrap"}).check_returncode()}
            times = {name: [] for name in ways}
            for _ in range(n):
                for name, start in ways.items():
                    t = time.perf_counter()
                    start()
                    times[name].append((time.perf_counter() - t) * 1000)
            print(f"{' '.join(argv)}: " + ", ".join(f"{name} {statistics.median(t):.1f} ms" for name, t in times.items()))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None, help="first N tasks of each (default: all)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--min-time-limit", type=float, default=1.0)
    p.add_argument("--benchmarks", nargs="+", default=["humaneval", "mbpp"])
    p.add_argument("--tasks", nargs="+", metavar="TASK_ID", help="only these tasks (e.g. Mbpp/255, whose outputs run to 1 GB)")
    p.add_argument("--startup", type=int, default=20, metavar="N", help="program starts timed per way (0: none)")
    p.add_argument("--startup-only", action="store_true", help="measure per-program start-up alone")
    args = p.parse_args()
    if args.startup:
        startup(args.startup)
    if args.startup_only:
        return
    summary = {}
    for kind in args.benchmarks:
        bench = {"benchmark": kind, "kind": kind, "dataset": DATA[kind], "max_new_tokens": 512, "n": 1,
                 "limit": args.limit, "parallel": args.parallel, "min_time_limit": args.min_time_limit}
        rows = eval_benchmarks.select(eval_benchmarks.read_evalplus(DATA[kind])[0], bench)
        rows = [r for r in rows if not args.tasks or r["task_id"] in args.tasks]
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            task_file = tmp / f"{kind}.jsonl"  # the bytes the scorer writes: one expected-output cache entry
            task_file.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows))
            if args.tasks:
                bench.update(dataset=str(task_file), limit=None)
            samples = tmp / "samples.jsonl"
            canonical = [(r["prompt"] + r["canonical_solution"]) if kind == "humaneval" else r["canonical_solution"] for r in rows]
            samples.write_text("".join(json.dumps({"task_id": r["task_id"], "solution": c}) + "\n" for r, c in zip(rows, canonical)))
            evalplus_verdict.groundtruth(kind, task_file, hashlib.md5(task_file.read_bytes()).hexdigest())  # cached
            times = {"plain": [], "pipeline": []}
            for _ in range(args.repeats):
                seconds, plain_peak = plain_evalplus(kind, task_file, rows, tmp, args.parallel, args.min_time_limit)
                times["plain"].append(round(seconds, 1))
                result = eval_score.score(bench, samples, {"runtime": "bwrap"})
                assert result["self_check"]["ok"], result["self_check"]
                times["pipeline"].append(result["harness"]["evaluate_seconds"])
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # this process is the scorer
                print(f"{kind} plain {times['plain'][-1]} s (peak {plain_peak} MB); pipeline {times['pipeline'][-1]} s "
                      f"(scorer's peak so far {peak} MB) {result['pass@1']}", flush=True)
        summary[kind] = times
        plain, piped = statistics.median(times["plain"]), statistics.median(times["pipeline"])
        print(f"{kind}+: {len(rows)} tasks x 3 solutions, parallel {args.parallel}: plain EvalPlus {plain:.1f} s "
              f"{times['plain']}, pipeline {piped:.1f} s {times['pipeline']}, ratio {piped / plain:.2f}x", flush=True)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
