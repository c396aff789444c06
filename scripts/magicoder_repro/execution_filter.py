"""Execution-checked OSS-Instruct: run each solution with its tests in the sandbox, keep what passes.

The original never ran the code its teacher wrote; StarCoder2-Instruct's self-align pipeline showed
that keeping only responses that pass their own tests is a cheap, strong filter. Here the tests are
taken from the solution itself: its fenced code blocks are joined into one program, and the `assert`
statements the teacher wrote there are the tests. A record passes when that program exits 0 inside
the evaluation sandbox (sandbox.py: no network, read-only root, private /tmp, limits) before the
timeout. A program without an `assert` has no tests: it is run all the same (a crash still fails it),
counted as `untested`, and kept only with `keep_untested`. Languages not in `languages` pass through
unchecked and are counted as such.
"""
import argparse
import ast
import json
import re
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from magicoder_repro import sandbox
from magicoder_repro.jsonl import add_filter_arguments, iter_jsonl, write_filter_outputs

FENCE = re.compile(r"```[ \t]*(\w*)[^\n]*\n(.*?)```", re.DOTALL)
PYTHON_TAGS = {"", "python", "py", "python3"}
EXAMPLES = 5
KEEP = {"passed"}


def python_program(solution: str) -> str | None:
    """The solution's Python code blocks joined in order; an unfenced solution counts if it parses."""
    blocks = [body for tag, body in FENCE.findall(solution) if tag.lower() in PYTHON_TAGS]
    if blocks:
        return "\n\n".join(blocks)
    try:
        ast.parse(solution)
    except SyntaxError:
        return None
    return solution


def has_tests(program: str) -> bool:
    try:
        tree = ast.parse(program)
    except SyntaxError:
        return False  # it will fail when run; whether it "had tests" does not matter then
    return any(isinstance(node, ast.Assert) for node in ast.walk(tree))


def check(record: dict, settings: dict, sandbox_cfg: dict) -> dict:
    """The record's outcome: passed, failed, timeout, untested, untested_failed or no_code, with the reason."""
    program = python_program(record["solution"])
    if program is None:
        return {"outcome": "no_code"}
    tested = has_tests(program)
    with tempfile.TemporaryDirectory(prefix="exec-filter-") as work:
        Path(work, "solution.py").write_text(program, encoding="utf-8")
        proc = sandbox.run([sys.executable, "-I", "solution.py"], work, sandbox_cfg, timeout=settings.get("timeout_s", 10))
    if "[sandbox] timed out" in proc.stderr:
        return {"outcome": "timeout", "stderr": proc.stderr[-500:]}
    if proc.returncode != 0:
        return {"outcome": "failed" if tested else "untested_failed", "stderr": proc.stderr[-500:]}
    return {"outcome": "passed" if tested else "untested"}


def execution_filter(records: list[dict], settings: dict, sandbox_cfg: dict):
    """Kept records (passing, unchecked languages, and untested ones if asked) and removed ones with their outcome."""
    languages = set(settings.get("languages", ["python"]))
    keep = KEEP | ({"untested"} if settings.get("keep_untested") else set())
    checked = [i for i, r in enumerate(records) if r.get("lang") in languages]
    with ThreadPoolExecutor(max_workers=settings.get("workers", 2)) as pool:
        outcomes = dict(zip(checked, pool.map(lambda i: check(records[i], settings, sandbox_cfg), checked)))
    kept, removed = [], []
    for i, record in enumerate(records):
        outcome = outcomes.get(i, {"outcome": "not_checked"})
        if outcome["outcome"] in keep | {"not_checked"}:
            kept.append(record)
        else:
            removed.append({**record, "execution": outcome})
    return kept, removed, [o["outcome"] for o in outcomes.values()]


def summarise(settings, sandbox_cfg, records, kept, removed, outcomes, seconds) -> dict:
    counts = Counter(outcomes)
    return {
        "settings": settings,
        "sandbox": sandbox_cfg,
        "input": len(records),
        "checked": len(outcomes),
        "not_checked": len(records) - len(outcomes),
        "kept": len(kept),
        "removed": len(removed),
        "outcomes": dict(sorted(counts.items())),
        # Of the records that have tests: how many pass them.
        "pass_rate": round(counts["passed"] / tested, 4) if (tested := counts["passed"] + counts["failed"] + counts["timeout"]) else None,
        "examples": [
            {"index": r.get("index"), "outcome": r["execution"]["outcome"], "stderr": r["execution"].get("stderr", "")[-300:]}
            for r in removed[:EXAMPLES]
        ],
        "seconds": round(seconds, 3),
    }


def run(input_path, settings: dict, sandbox_cfg: dict, kept_path, removed_path, summary_path) -> dict:
    records = list(iter_jsonl(input_path))
    for i, record in enumerate(records):
        if not isinstance(record.get("solution"), str):
            raise ValueError(f"{input_path}: record {i + 1} has no text field 'solution'")
    start = time.perf_counter()
    kept, removed, outcomes = execution_filter(records, settings, sandbox_cfg)
    summary = summarise(settings, sandbox_cfg, records, kept, removed, outcomes, time.perf_counter() - start)
    write_filter_outputs(kept_path, kept, removed_path, removed, summary_path, summary)
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", required=True, help="curation.execution_filter as JSON")
    p.add_argument("--sandbox", required=True, help="evaluation.sandbox as JSON")
    add_filter_arguments(p)
    a = p.parse_args(argv)
    summary = run(a.input, json.loads(a.settings), json.loads(a.sandbox), a.kept, a.removed, a.summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "examples"}, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
