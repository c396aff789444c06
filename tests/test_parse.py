"""The original parsing rules on handcrafted answers: every way to keep and every way to drop."""
import json

import pytest

from magicoder_repro.core.jsonl import read_jsonl, write_jsonl
from magicoder_repro.data.parse import parse, split_answer


@pytest.mark.parametrize("text, expected", [
    ("[Problem Description]\nAdd two numbers.\n\n[Solution]\n```python\ndef add(a, b):\n    return a + b\n```\n",
     ("Add two numbers.", "```python\ndef add(a, b):\n    return a + b\n```")),
    # case-insensitive, markers anywhere in their line, the rest of a marker line is discarded
    ("Intro\n## [PROBLEM DESCRIPTION] (self-contained)\n  Sort a list.  \n**[solution]**: here\n\n  sorted(x)\n\n",
     ("Sort a list.", "sorted(x)")),
    # only the first line with each marker counts: a later "[Solution]" belongs to the solution text
    ("[Problem Description]\nP\n[Solution]\nS1\n[Solution]\nS2", ("P", "S1\n[Solution]\nS2")),
    # a solution marker mentioned inside the problem line is on the problem line, not after it
    ("[Problem Description] see [Solution] below\nP\nmore\n[Solution]\nS", "markers_out_of_order"),
    ("Just some text\n[Solution]\nS", "no_problem_marker"),
    ("[Problem Description]\nP\nSolution:\nS", "no_solution_marker"),
    ("[Solution]\nS\n[Problem Description]\nP", "markers_out_of_order"),
    ("[Problem Description]\n\n   \n[Solution]\nS", "empty_problem"),
    ("[Problem Description]\nP\n[Solution]\n  \n", "empty_solution"),
    ("", "no_problem_marker"),
])
def test_split_answer(text, expected):
    assert split_answer(text) == expected


def response(content, finish_reason="stop", fingerprint="fp_1"):
    return {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "system_fingerprint": fingerprint,
            "choices": [{"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def test_parse_file_keeps_records_in_order_and_counts_each_drop_reason(tmp_path):
    good = "[Problem Description]\nP{i}\n[Solution]\nS{i}"
    rows = [
        {"response": response(good.format(i=0))},
        {"response": response(good.format(i=1), finish_reason="length")},
        {"response": response(None, finish_reason="content_filter")},
        {"response": response("no markers")},
        {"skipped": "prompt_too_long", "request_key": None},
        {"response": response(good.format(i=5), fingerprint=None)},
        {"response": response("[Solution]\nS\n[Problem Description]\nP")},
    ]
    rows = [{"lang": "rust", "index": i, "raw_index": 100 + i, "seed": f"fn s{i}() {{}}", "request_key": "k", **r}
            for i, r in enumerate(rows)]
    write_jsonl(tmp_path / "responses.jsonl", rows)
    stats = parse(tmp_path / "responses.jsonl", tmp_path / "records.jsonl", tmp_path / "stats.json")

    records = read_jsonl(tmp_path / "records.jsonl")
    assert records == [
        {"lang": "rust", "raw_index": 100, "index": 0, "seed": "fn s0() {}", "openai_fingerprint": "fp_1", "problem": "P0", "solution": "S0"},
        {"lang": "rust", "raw_index": 105, "index": 5, "seed": "fn s5() {}", "openai_fingerprint": None, "problem": "P5", "solution": "S5"},
    ]
    assert stats == json.loads((tmp_path / "stats.json").read_text()) == {
        "responses": 7, "kept": 2,
        "dropped": {"finish_reason_content_filter": 1, "finish_reason_length": 1, "markers_out_of_order": 1,
                    "no_problem_marker": 1, "skipped_prompt_too_long": 1},
    }
