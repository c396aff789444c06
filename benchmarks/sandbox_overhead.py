"""Cost of the trusted verdict path: HumanEval+ and MBPP+ scored by the pipeline (a sandboxed child per
sample reporting return values, the verdict in the scorer) against plain `evalplus.evaluate` (one
unsandboxed process, verdicts computed inside the samples' processes) on the same solutions.

Both score, per task, the canonical solution, the self-check's broken one and the canonical again as a
model sample (every test runs to completion for two of three). Expected outputs are computed first and
cached, so the timings cover the evaluation alone. Runs alternate (plain, pipeline, ...) to spread
machine noise. Also reported: the start-up of one sandboxed program (bwrap + interpreter) against the
same interpreter started bare.

    OMP_NUM_THREADS=1 python benchmarks/sandbox_overhead.py --repeats 2
"""
import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from magicoder_repro import eval_benchmarks, eval_score, evalplus_verdict, sandbox  # noqa: E402

DATA = {"humaneval": "data/benchmarks/evalplus/HumanEvalPlus-v0.1.10.jsonl.gz",
        "mbpp": "data/benchmarks/evalplus/MbppPlus-v0.2.0.jsonl.gz"}
PLAIN = """
import os, sys, time
from evalplus.evaluate import evaluate
t0 = time.time()
evaluate(dataset=sys.argv[1], samples=sys.argv[2], parallel=int(sys.argv[3]), min_time_limit=float(sys.argv[4]))
print("SECONDS", time.time() - t0, flush=True)
os._exit(0)
"""


def plain_evalplus(kind: str, task_file: Path, rows: list[dict], workdir: Path, parallel: int, min_time_limit: float) -> float:
    """evalplus.evaluate's own seconds on the pipeline's three solutions per task."""
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
    return float(out.split("SECONDS")[1])


def start_up(repeats: int = 20) -> tuple[float, float]:
    """Median seconds to start and end `python -c pass`, bare and in the sandbox."""
    with tempfile.TemporaryDirectory() as tmp:
        def timed(runtime):
            t0 = time.perf_counter()
            sandbox.run([sys.executable, "-c", "pass"], tmp, {"runtime": runtime})
            return time.perf_counter() - t0
        return (statistics.median(timed("none") for _ in range(repeats)),
                statistics.median(timed("bwrap") for _ in range(repeats)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None, help="first N tasks of each (default: all)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--min-time-limit", type=float, default=1.0)
    p.add_argument("--benchmarks", nargs="+", default=["humaneval", "mbpp"])
    args = p.parse_args()
    bare, boxed = start_up()
    print(f"start-up of one program: bare {bare * 1000:.0f} ms, sandboxed {boxed * 1000:.0f} ms", flush=True)
    summary = {}
    for kind in args.benchmarks:
        bench = {"benchmark": kind, "kind": kind, "dataset": DATA[kind], "max_new_tokens": 512, "n": 1,
                 "limit": args.limit, "parallel": args.parallel, "min_time_limit": args.min_time_limit}
        rows = eval_benchmarks.select(eval_benchmarks.read_evalplus(DATA[kind])[0], bench)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            task_file = tmp / f"{kind}.jsonl"  # the bytes the scorer writes: one expected-output cache entry
            task_file.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows))
            samples = tmp / "samples.jsonl"
            canonical = [(r["prompt"] + r["canonical_solution"]) if kind == "humaneval" else r["canonical_solution"] for r in rows]
            samples.write_text("".join(json.dumps({"task_id": r["task_id"], "solution": c}) + "\n" for r, c in zip(rows, canonical)))
            evalplus_verdict.groundtruth(kind, task_file, hashlib.md5(task_file.read_bytes()).hexdigest())  # cached
            times = {"plain": [], "pipeline": []}
            for _ in range(args.repeats):
                times["plain"].append(round(plain_evalplus(kind, task_file, rows, tmp, args.parallel, args.min_time_limit), 1))
                result = eval_score.score(bench, samples, {"runtime": "bwrap"})
                assert result["self_check"]["ok"], result["self_check"]
                times["pipeline"].append(result["harness"]["evaluate_seconds"])
                print(kind, "plain", times["plain"][-1], "s; pipeline", times["pipeline"][-1], "s", result["pass@1"], flush=True)
        summary[kind] = times
        plain, piped = statistics.median(times["plain"]), statistics.median(times["pipeline"])
        print(f"{kind}+: {len(rows)} tasks x 3 solutions, parallel {args.parallel}: plain EvalPlus {plain:.1f} s "
              f"{times['plain']}, pipeline {piped:.1f} s {times['pipeline']}, ratio {piped / plain:.2f}x", flush=True)
    print(json.dumps({"start_up_ms": {"bare": round(bare * 1000), "sandboxed": round(boxed * 1000)}, **summary}))


if __name__ == "__main__":
    main()
