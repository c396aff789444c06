"""Cost of the sandbox: HumanEval+ scored by EvalPlus inside bubblewrap against plain EvalPlus.

Both runs score the same file (the canonical solutions as samples, so every test runs to completion)
through `eval_score.score`, which adds the self-check solutions in both cases; only the runtime
differs (`bwrap` or `none`). Expected outputs are computed first and cached, so the timings cover
EvalPlus's evaluation alone. Runs alternate (none, bwrap, none, bwrap, ...) to spread machine noise.

    OMP_NUM_THREADS=1 python benchmarks/sandbox_overhead.py --limit 164 --repeats 2

--startup N measures instead what one program pays: N runs of `true` and of `python3 -c pass` through
`sandbox.run` (cgroups made and removed, launcher, setpriv, bubblewrap), through the previous sandbox's
command line (one bwrap call: --ro-bind / /, --uid 65534 mapped to the caller) and unsandboxed, interleaved.

    python benchmarks/sandbox_overhead.py --startup 100
"""
import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from magicoder_repro import eval_score, sandbox  # noqa: E402

DATA = "data/benchmarks/evalplus/HumanEvalPlus-v0.1.10.jsonl.gz"


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
    p.add_argument("--limit", type=int, default=164)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--startup", type=int, default=0, metavar="N", help="measure per-program start-up instead")
    args = p.parse_args()
    if args.startup:
        return startup(args.startup)
    bench = {"benchmark": "humaneval", "kind": "humaneval", "dataset": DATA, "max_new_tokens": 512, "n": 1,
             "limit": args.limit, "parallel": args.parallel, "min_time_limit": 4.0}
    rows = [json.loads(line) for line in gzip.open(REPO / DATA, "rt")][:args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        samples = Path(tmp) / "samples.jsonl"
        samples.write_text("".join(json.dumps({"task_id": r["task_id"], "solution": r["prompt"] + r["canonical_solution"]}) + "\n" for r in rows))
        eval_score.score(bench, samples, {"runtime": "none"})  # fills the expected-output cache
        times = {"none": [], "bwrap": []}
        for _ in range(args.repeats):
            for runtime in times:
                result = eval_score.score(bench, samples, {"runtime": runtime})
                assert result["self_check"]["ok"], result["self_check"]
                times[runtime].append(result["harness"]["evaluate_seconds"])
                print(runtime, result["harness"]["evaluate_seconds"], "s", result["pass@1"], flush=True)
    plain, boxed = statistics.median(times["none"]), statistics.median(times["bwrap"])
    print(f"\nHumanEval+ {args.limit} tasks x 3 solutions, parallel {args.parallel}, {args.repeats} runs each")
    print(f"plain EvalPlus: {plain:.1f} s (runs {times['none']})")
    print(f"in bubblewrap:  {boxed:.1f} s (runs {times['bwrap']})")
    print(f"ratio: {boxed / plain:.2f}x")


if __name__ == "__main__":
    main()
