"""EvalPlus scoring inside the sandbox: the self-check passes for a healthy harness and fails the run for
a broken one; scores come from real executions; bad samples files give clear errors."""
import gzip
import json
import os
import math
import subprocess
import sys

import pytest

from eval_helpers import HUMANEVAL, MBPP, REPO, evalplus_cache, humaneval, mbpp  # noqa: F401
from magicoder_repro.evaluate import score as eval_score

pytestmark = pytest.mark.slow


def rows_of(path, limit):
    return [json.loads(line) for line in gzip.open(REPO / path, "rt")][:limit]


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def run_score(tmp_path, bench, samples, check=True):
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, "-m", "magicoder_repro.evaluate.score", "--benchmark", json.dumps(bench),
                           "--sandbox", json.dumps({"runtime": "bwrap"}), "--samples", str(samples), "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "scripts")})
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(out.read_text())
    return proc, out


def test_humaneval_scores_and_self_check(tmp_path, evalplus_cache):
    rows = rows_of(HUMANEVAL, 33)
    # Half the tasks right (canonical), half wrong (an empty body returns None).
    samples = [{"task_id": r["task_id"], "solution": r["prompt"] + (r["canonical_solution"] if i % 2 == 0 else "    pass\n")}
               for i, r in enumerate(rows)]
    result = run_score(tmp_path, humaneval(), write(tmp_path / "s.jsonl", samples))
    check = result["self_check"]
    assert check["ok"] and check["broken_pass_rate"] == 0.0
    assert check["documented_exceptions"] == {"HumanEval/32": eval_score.KNOWN_DEFECTS["humaneval"]["HumanEval/32"]}
    assert check["canonical_status"] == {"HumanEval/32": ["fail", "fail"]}  # the 0.3.1 defect, reported openly
    expect = {r["task_id"]: [i % 2 == 0 and r["task_id"] != "HumanEval/32"] for i, r in enumerate(rows)}
    assert {t: v["plus"] for t, v in result["per_task"].items()} == expect
    assert result["pass@1"]["plus"] == pytest.approx(sum(v[0] for v in expect.values()) / 33)
    assert result["scores"]["plus_without_known_defects"]["pass@1"] == pytest.approx(16 / 32)
    assert result["dataset"]["md5"] == "fe585eb4df8c88d844eeb463ea4d0302" and result["dataset"]["tasks"] == 33
    assert result["harness"]["parallel"] == 2 and result["harness"]["min_time_limit"] == 4.0
    assert result["sandbox"] == "bwrap" and result["versions"]["evalplus"] == "0.3.1"


def test_mbpp_scores_with_sanitised_solutions(tmp_path, evalplus_cache):
    rows = rows_of(MBPP, 6)
    samples = [{"task_id": r["task_id"], "solution": r["canonical_solution"]} for r in rows]
    samples[0]["solution"] = "def similar_elements(a, b):\n    return ()\n"
    result = run_score(tmp_path, mbpp(), write(tmp_path / "s.jsonl", samples))
    assert result["self_check"]["ok"] and result["self_check"]["canonical_pass_rate"] == 1.0
    assert result["pass@1"] == {"base": pytest.approx(5 / 6), "plus": pytest.approx(5 / 6)}
    assert result["dataset"]["md5"] == "ee43ecabebf20deef4bb776a405ac5b1"


def test_a_task_without_plus_inputs_keeps_the_self_check(tmp_path, evalplus_cache):
    """Mbpp/793 has no plus inputs: every solution passes that empty set, in EvalPlus too, so the broken
    solution counts as caught by failing base; the canonical sample passes both."""
    row = next(r for r in rows_of(MBPP, None) if r["task_id"] == "Mbpp/793")
    data = write(tmp_path / "mbpp793.jsonl", [row])
    samples = write(tmp_path / "s.jsonl", [{"task_id": row["task_id"], "solution": row["canonical_solution"]}])
    result = run_score(tmp_path, mbpp(limit=None, dataset=str(data)), samples)
    assert result["self_check"]["ok"] and result["self_check"]["broken_passing"] == []
    assert result["pass@1"] == {"base": 1.0, "plus": 1.0}


def test_a_sandbox_that_cannot_start_programs_is_an_error_not_timeouts(tmp_path, evalplus_cache):
    """Every sample would read as a timeout; the scorer says instead that the sandbox cannot start one."""
    rows = rows_of(HUMANEVAL, 2)
    samples = write(tmp_path / "s.jsonl", [{"task_id": r["task_id"], "solution": r["prompt"] + r["canonical_solution"]} for r in rows])
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, "-m", "magicoder_repro.evaluate.score", "--benchmark", json.dumps(humaneval(2)),
                           "--sandbox", json.dumps({"runtime": "bwrap", "memory_mb": 1}), "--samples", str(samples),
                           "--out", str(out)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "scripts")})
    assert proc.returncode != 0 and not out.exists()
    assert proc.stderr.strip().splitlines()[-1].startswith("evaluate.score: error: the sandbox cannot start a program here")


def test_broken_harness_fails_the_self_check(tmp_path, evalplus_cache, monkeypatch):
    """A harness that lets wrong programs pass must be caught by the self-check, not report a score."""
    bench = humaneval(limit=3)
    samples = write(tmp_path / "s.jsonl", [{"task_id": r["task_id"], "solution": r["prompt"] + r["canonical_solution"]}
                                          for r in rows_of(HUMANEVAL, 3)])
    assert eval_score.score(bench, samples, {"runtime": "bwrap"})["self_check"]["ok"]
    monkeypatch.setattr(eval_score, "broken_python", lambda code, entry_point: code)  # "broken" = correct
    bad = eval_score.score(bench, samples, {"runtime": "bwrap"})["self_check"]
    assert not bad["ok"] and bad["broken_passing"] == [r["task_id"] for r in rows_of(HUMANEVAL, 3)]


def test_corrupt_and_incomplete_samples_are_errors(tmp_path, evalplus_cache):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "HumanEval/0", "solution": "x"}\n{"task_id": "HumanEval/1", "solu\n')
    proc, out = run_score(tmp_path, humaneval(limit=2), bad, check=False)
    assert proc.returncode != 0 and "corrupt samples file" in proc.stderr and "bad.jsonl:2" in proc.stderr
    partial = write(tmp_path / "partial.jsonl", [{"task_id": "HumanEval/0", "solution": "x"}])
    proc, out = run_score(tmp_path, humaneval(limit=2), partial, check=False)
    assert proc.returncode != 0 and "no samples for 1 tasks" in proc.stderr and not out.exists()


def test_unknown_benchmark_is_an_error(tmp_path):
    proc, _ = run_score(tmp_path, {"benchmark": "humaneval-x", "kind": "humaneval-x", "dataset": HUMANEVAL,
                                   "max_new_tokens": 8}, tmp_path / "none.jsonl", check=False)
    assert proc.returncode != 0 and "unknown kind 'humaneval-x'" in proc.stderr


@pytest.mark.parametrize("records, problem", [
    ([{"solution": "x"}], "bad.jsonl:1: no task_id"),
    ([{"task_id": "HumanEval/0", "solution": "x"}, {"task_id": "HumanEval/9", "solution": "x"}],
     "bad.jsonl:2: task_id 'HumanEval/9' is not a task of this benchmark"),
    ([{"task_id": "HumanEval/0", "solution": ["x"]}], "bad.jsonl:1: solution is list, not a string"),
    ([{"task_id": "HumanEval/0", "sample": 0, "solution": "a"}, {"task_id": "HumanEval/1", "sample": 0, "solution": "b"},
      {"task_id": "HumanEval/0", "sample": 0, "solution": "c"}], "bad.jsonl:3: duplicate sample 0 of HumanEval/0"),
    ([{"task_id": "HumanEval/0", "solution": "a"}, {"task_id": "HumanEval/0", "solution": "b"}],
     "bad.jsonl:2: more than n=1 samples for HumanEval/0"),
])
def test_bad_samples_name_file_line_and_problem(tmp_path, records, problem):
    path = write(tmp_path / "bad.jsonl", records)
    with pytest.raises(SystemExit) as e:
        eval_score.load_samples(path, ["HumanEval/0", "HumanEval/1"], n=1)
    assert str(e.value) == f"error: {tmp_path}/{problem}"


def test_n_samples_per_task_with_their_indices_are_fine(tmp_path):
    path = write(tmp_path / "s.jsonl", [{"task_id": t, "sample": k, "solution": f"{t}{k}"}
                                        for t in ("HumanEval/0", "HumanEval/1") for k in range(3)])
    assert eval_score.load_samples(path, ["HumanEval/0", "HumanEval/1"], n=3) == {
        "HumanEval/0": ["HumanEval/00", "HumanEval/01", "HumanEval/02"], "HumanEval/1": ["HumanEval/10", "HumanEval/11", "HumanEval/12"]}


def test_pass_at_k_is_the_unbiased_estimator():
    """pass@k per task is 1 - C(n-c, k) / C(n, k) (Chen et al. 2021), averaged over tasks; a k above some
    task's sample count is left out."""
    per_task = {"a": [True, False, False, True, False], "b": [False] * 5, "c": [True] * 5, "d": [False, True, False, False, False]}
    expected = {k: sum(1 - math.comb(len(v) - sum(v), k) / math.comb(len(v), k) for v in per_task.values()) / len(per_task)
                for k in (1, 2, 5)}
    got = eval_score.summarise(per_task, ks=(1, 2, 5, 10))
    assert sorted(got) == ["pass@1", "pass@2", "pass@5"]
    for k in (1, 2, 5):
        assert got[f"pass@{k}"] == pytest.approx(expected[k], rel=1e-12)
    assert got["pass@1"] == pytest.approx((2 / 5 + 0 + 1 + 1 / 5) / 4)
