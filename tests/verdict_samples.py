"""Honest samples of EvalPlus tasks that pass, fail, time out or pass only the base tests, built from
the canonical solutions; and the runs that score them (the pipeline, plain `evalplus.evaluate`)."""
import gzip
import json
import os
import subprocess
import sys

from eval_helpers import HUMANEVAL, MBPP, REPO

# A few tasks of each, chosen for EvalPlus's special cases: float outputs (atol), set equality, the
# not-None oracle, surface_Area's oracle, HumanEval/32's defect (few tasks: CI time).
TASKS = {"humaneval": ["HumanEval/0", "HumanEval/2", "HumanEval/32"],
         "mbpp": ["Mbpp/2", "Mbpp/82", "Mbpp/581", "Mbpp/737"]}
DATASETS = {"humaneval": HUMANEVAL, "mbpp": MBPP}

WRAPPER = """

import numpy as _np
_orig = {entry_point}
_BASE = {base!r}


def _bad(r):
    if isinstance(r, bool):
        return not r
    if isinstance(r, (int, float)):
        return r + 1
    if isinstance(r, str):
        return r + "x"
    if isinstance(r, (list, tuple)):
        return type(r)(list(r)[:-1]) if r else [0]
    return 0


def {entry_point}(*args):
    r = _orig(*args)
{body}
"""
# How each variant changes the canonical function's return value (indented into the wrapper).
VARIANTS = {
    "planted_bug": "    return _bad(r) if len(repr(args)) % 3 == 0 else r",
    "base_only": "    return r if repr(args) in _BASE else _bad(r)",
    "raises_sometimes": "    if len(repr(args)) % 4 == 1:\n        raise ValueError(args)\n    return r",
    "noisy": "    print('x' * 1000)\n    return r",
    "numpy_scalar": "    return _np.float64(r) if isinstance(r, float) else r",
    "off_by_1e-9": "    return r + 1e-9 if isinstance(r, float) else r",
    "off_by_1e-3": "    return r + 1e-3 if isinstance(r, float) else r",
    "tuple_not_list": "    return tuple(r) if isinstance(r, list) else r",
    "iterator": "    return iter(r) if isinstance(r, (list, tuple)) else r",
}
SLOW = "    if repr(args) not in _BASE:\n        while True:\n            pass\n    return r"  # plus times out


def rows(kind: str) -> list[dict]:
    by_id = {json.loads(line)["task_id"]: json.loads(line) for line in gzip.open(REPO / DATASETS[kind], "rt")}
    return [by_id[t] for t in TASKS[kind]]


def canonical(kind: str, row: dict) -> str:
    return row["prompt"] + row["canonical_solution"] if kind == "humaneval" else row["canonical_solution"]


def base_inputs(kind: str, row: dict) -> set:
    if kind == "mbpp":
        from evalplus.data.mbpp import mbpp_deserialize_inputs

        return {repr(tuple(i)) for i in mbpp_deserialize_inputs(row["task_id"], row["base_input"])}
    return {repr(tuple(i)) for i in row["base_input"]}


def honest_samples(kind: str, slow_tasks: int = 1) -> list[dict]:
    """Per task: the canonical solution, each variant, and for the first `slow_tasks` tasks one that
    times out on the plus inputs."""
    samples = []
    for k, row in enumerate(rows(kind)):
        code = canonical(kind, row)
        variants = {**VARIANTS, **({"slow_plus": SLOW} if k < slow_tasks else {})}
        samples.append({"task_id": row["task_id"], "variant": "canonical", "solution": code})
        for name, body in variants.items():
            wrapped = code + WRAPPER.format(entry_point=row["entry_point"], base=base_inputs(kind, row), body=body)
            samples.append({"task_id": row["task_id"], "variant": name, "solution": wrapped})
    return samples


def write_dataset(kind: str, path) -> str:
    """The tasks as a local EvalPlus task file (the same bytes the scorer writes: one cache entry)."""
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows(kind)))
    return str(path)


def plain_evalplus(kind: str, dataset, samples_path, min_time_limit: float) -> dict:
    """{task_id: [(base pass, plus pass), ...]} from EvalPlus's own evaluate, unsandboxed."""
    var = "HUMANEVAL_OVERRIDE_PATH" if kind == "humaneval" else "MBPP_OVERRIDE_PATH"
    code = ("import os\nfrom evalplus.evaluate import evaluate\n"
            f"evaluate(dataset={kind!r}, samples={str(samples_path)!r}, parallel=2, min_time_limit={min_time_limit})\n"
            "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", code], env={**os.environ, var: str(dataset)}, check=True,
                   capture_output=True, cwd=samples_path.parent)
    results = json.loads(samples_path.with_name(samples_path.stem + "_eval_results.json").read_text())["eval"]
    return {t: [(r["base_status"] == "pass", r["base_status"] == r["plus_status"] == "pass") for r in res]
            for t, res in results.items()}


def pipeline(result: dict) -> dict:
    """The same shape from the pipeline's result."""
    return {t: list(zip(v["base"], v["plus"])) for t, v in result["per_task"].items()}
