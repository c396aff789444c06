"""Time of `make plan`'s command and of the budget's read of the cache, at the paper's size.

75,000 seeds of the paper's shape (one language file, 1-15 lines each from the demo corpus) and a
response cache holding answers to half of them (the fault server's answers, written as the cache
writes them), so the plan builds and keys 75,000 requests, looks them up and counts the tokens of the
37,500 left; `spent_usd` is what a run with teacher.budget_usd reads before any job (rules/plan.smk)
and before each budget round. Prints JSON; the plan process is the rule's own command, timed outside.
  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/plan_speed.py [--seeds 75000]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "scripts"), str(REPO / "tests")]
from fault_server import completion_for  # noqa: E402
from test_generate import TEMPLATE, teacher_config  # noqa: E402
from test_plan_budget import plan_cmd  # noqa: E402

from magicoder_repro.data import budget  # noqa: E402  # noqa: E402
from magicoder_repro.core.jsonl import read_jsonl, write_jsonl  # noqa: E402
from magicoder_repro.data.requests import build_request, load_template, request_key  # noqa: E402
from magicoder_repro.data.teacher_cache import ResponseCache  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=75000)
    n = p.parse_args().seeds
    lines = [line for doc in read_jsonl(REPO / "data/demo/corpus/python.jsonl") for line in doc["content"].splitlines()]
    seeds = [{"lang": "python", "index": i, "raw_index": i, "seed": "\n".join(lines[i % len(lines):][: 1 + i % 15])}
             for i in range(n)]
    teacher = teacher_config(base_url="http://127.0.0.1:9/v1")
    template = load_template(TEMPLATE)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_jsonl(tmp / "python.jsonl", seeds)
        cache = ResponseCache(tmp / "cache" / "teacher")
        entries = []
        for seed in seeds[: n // 2]:
            request = build_request(seed["seed"], seed["index"], teacher, template)
            entries.append((request_key(request), request, completion_for(request)))
        cache.append_many(entries)
        cache.close()
        env = {**os.environ, "PYTHONPATH": str(REPO / "scripts"), "OMP_NUM_THREADS": "1", "TIKTOKEN_CACHE_DIR": str(tmp / "none")}
        start = time.monotonic()
        subprocess.run(plan_cmd(tmp, tmp / "python.jsonl", teacher), env=env, check=True, capture_output=True)
        plan_s = time.monotonic() - start
        start = time.monotonic()
        budget.spent_usd(tmp / "cache" / "teacher", teacher["price_per_million_tokens"], None)
        spent_s = time.monotonic() - start
        plan = json.loads((tmp / "plan.json").read_text())
        cache_mb = (tmp / "cache" / "teacher" / "responses.jsonl").stat().st_size / 1e6
    print(json.dumps({"seeds": n, "cached": plan["total"]["cached"], "to_send": plan["total"]["to_send"],
                      "cache_mb": round(cache_mb, 1), "plan_process_s": round(plan_s, 2), "spent_usd_s": round(spent_s, 2)}))


if __name__ == "__main__":
    main()
