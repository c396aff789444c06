"""Prompts and post-processing match Magicoder's evaluation; data files are checked; MultiPL-E and
DS-1000 samples in their datasets' schemas really compile and run in the sandbox."""
import gzip
import json
import shutil

import pytest

from eval_helpers import FIXTURES, HUMANEVAL, REPO, humaneval, mbpp
from magicoder_repro.evaluate import benchmarks as eb
from magicoder_repro.evaluate import score as eval_score, sandbox
from magicoder_repro.core.prompt_format import prompt as magicoder_prompt


def test_humaneval_prompt_is_magicoders():
    task = eb.load_tasks(humaneval(limit=2))[0]
    code = json.loads(gzip.open(REPO / HUMANEVAL, "rt").readline())["prompt"].strip()
    instruction = f"Write a solution to the following problem:\n```python\n{code}\n```"
    assert task["prompt"] == magicoder_prompt(instruction) + f"```python\n{code}"
    assert task["task_id"] == "HumanEval/0"
    out = "\n    return True\n```\nSome explanation\n```python\nprint(1)\n```"
    assert eb.postprocess(humaneval(), task, out) == code + "\n    return True\n"


def test_mbpp_prompt_and_sanitiser():
    task = eb.load_tasks(mbpp(limit=1))[0]
    assert task["prompt"].endswith("@@ Response\n```python")
    assert "Write a function to find the shared elements from the given two lists. Your code should satisfy the following assertion:\n```python\nassert set(similar_elements" in task["prompt"]
    out = "\nimport math\ndef similar_elements(a, b):\n    return tuple(set(a) & set(b))\n\nprint(similar_elements((1,), (1,)))\n```\nDone."
    solution = eb.postprocess(mbpp(), task, out)
    assert "def similar_elements" in solution and "print(" not in solution and "Done" not in solution


def test_chat_reply_takes_first_fenced_block():
    task = {**eb.load_tasks(humaneval(limit=1))[0], "chat_reply": True}
    reply = "Here you go:\n```python\ndef has_close_elements(a, t):\n    return False\n```\nBye"
    assert eb.postprocess(humaneval(), task, reply) == "def has_close_elements(a, t):\n    return False\n"


def test_changed_data_file_is_refused(tmp_path):
    bad = tmp_path / "HumanEvalPlus-v0.1.10.jsonl.gz"
    raw = gzip.decompress((REPO / HUMANEVAL).read_bytes()).replace(b"has_close_elements", b"has_far_elements", 1)
    bad.write_bytes(gzip.compress(raw))
    with pytest.raises(ValueError, match="md5"):
        eb.read_evalplus(bad)


def test_unknown_benchmark_kind():
    with pytest.raises(eb.UnknownBenchmark, match="unknown kind 'humaneval-x'"):
        eb.load_tasks({"benchmark": "hx", "kind": "humaneval-x", "dataset": HUMANEVAL})


def write_samples(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


LANGS = ["java", "js", "cpp", "php", "rs", "swift"]


@pytest.mark.parametrize("lang", LANGS)
def test_multipl_e_sample_compiles_and_runs(lang, tmp_path):
    bench = {"benchmark": f"multipl-e-{lang}", "kind": "multipl-e", "dataset": str(FIXTURES / "multiple" / f"humaneval-{lang}.jsonl"),
             "max_new_tokens": 64, "parallel": 2, "timeout_s": 60}
    completions = json.loads((FIXTURES / "multiple" / "completions.json").read_text())[lang]
    task = eb.load_tasks(bench)[0]
    # A model output runs past the function: the stop tokens must cut it.
    rows = [{"task_id": task["task_id"], "solution": eb.postprocess(bench, task, completions[k] + task["stop"][0] + "garbage(")}
            for k in ("good", "bad")]
    result = eval_score.score(bench, write_samples(tmp_path / "s.jsonl", rows), {"runtime": "bwrap"})
    tool = sandbox.toolchain(lang).tool
    if shutil.which(tool) is None:
        assert result["status"] == "not run" and result["scores"] is None and tool in result["reason"]
        return
    assert result["status"] == "run"
    assert result["per_task"] == {"HumanEval_53_add": [True, False]}
    assert result["scores"] == {"pass@1": 0.5}
    assert result["self_check"]["ok"] and result["self_check"]["broken_pass_rate"] == 0.0


def test_ds1000_sample_runs_with_self_check(tmp_path):
    bench = {"benchmark": "ds1000", "kind": "ds1000", "dataset": str(FIXTURES / "ds1000" / "ds1000.jsonl"),
             "max_new_tokens": 64, "temperature": 0.2, "top_p": 0.5, "n": 2, "parallel": 2}
    completions = json.loads((FIXTURES / "ds1000" / "completions.json").read_text())
    tasks = eb.load_tasks(bench)
    rows = [{"task_id": t["task_id"], "solution": eb.postprocess(bench, t, completions[t["task_id"]][k])}
            for t in tasks for k in ("good", "bad")]
    assert rows[0]["solution"].strip() == "result = a.sum(axis=0)"
    result = eval_score.score(bench, write_samples(tmp_path / "s.jsonl", rows), {"runtime": "bwrap"})
    assert result["per_task"] == {"0": [True, False], "1": [True, False]}
    assert result["self_check"]["canonical_pass_rate"] == 1.0 and result["self_check"]["broken_pass_rate"] == 0.0
    assert result["pass@1"] == 0.5 and result["generation"]["temperature"] == 0.2


def test_multipl_e_language_without_toolchain_is_not_run(tmp_path):
    """A MultiPL-E language the toolchain table lacks (here Lua) is reported as not run, never scored 0."""
    row = json.loads((FIXTURES / "multiple" / "humaneval-java.jsonl").read_text().splitlines()[0])
    dataset = tmp_path / "humaneval-lua.jsonl"
    dataset.write_text(json.dumps({**row, "language": "lua"}) + "\n")
    bench = {"benchmark": "multipl-e-lua", "kind": "multipl-e", "dataset": str(dataset), "max_new_tokens": 64, "parallel": 2}
    samples = write_samples(tmp_path / "s.jsonl", [{"task_id": eb.load_tasks(bench)[0]["task_id"], "solution": "x"}])
    result = eval_score.score(bench, samples, {"runtime": "bwrap"})
    assert result["status"] == "not run" and result["scores"] is None
    assert result["reason"] == "no toolchain for MultiPL-E language 'lua'"
