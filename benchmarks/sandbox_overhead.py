"""Cost of the sandbox: HumanEval+ scored by EvalPlus inside bubblewrap against plain EvalPlus.

Both runs score the same file (the canonical solutions as samples, so every test runs to completion)
through `eval_score.score`, which adds the self-check solutions in both cases; only the runtime
differs (`bwrap` or `none`). Expected outputs are computed first and cached, so the timings cover
EvalPlus's evaluation alone. Runs alternate (none, bwrap, none, bwrap, ...) to spread machine noise.

    OMP_NUM_THREADS=1 python benchmarks/sandbox_overhead.py --limit 164 --repeats 2
"""
import argparse
import gzip
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from magicoder_repro import eval_score  # noqa: E402

DATA = "data/benchmarks/evalplus/HumanEvalPlus-v0.1.10.jsonl.gz"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=164)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--parallel", type=int, default=2)
    args = p.parse_args()
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
