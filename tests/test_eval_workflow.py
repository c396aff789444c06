"""The evaluation rules end to end on a tiny model built here: samples, a sandboxed score with its
self-check, reruns limited to what a changed setting touches, and clear errors for bad input."""
import gzip
import json

import pytest
import yaml

from conftest import run_snakemake
from eval_helpers import HUMANEVAL, REPO, evalplus_cache  # noqa: F401
from magicoder_repro.train import tiny_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    texts = [json.loads(line)["prompt"] for line in gzip.open(REPO / HUMANEVAL, "rt")]
    return tiny_model.build(tmp_path_factory.mktemp("tiny") / "model", texts, vocab_size=400)


def overlay(workdir, tiny, **bench):
    humaneval = {"limit": 2, "max_new_tokens": 8, **bench}
    cfg = {"evaluation": {"models": {"tiny": {"path": str(tiny)}, "missing": {"path": str(workdir / "no-such-ckpt")}},
                          "benchmarks": {"humaneval": humaneval, "mbpp": {"limit": 2, "max_new_tokens": 8}}}}
    (workdir / "eval.yaml").write_text(yaml.safe_dump(cfg))
    return ["--configfile", "eval.yaml"]


def test_eval_rules(workdir, tiny, evalplus_cache):
    target = "results/eval/tiny/humaneval.json"
    run_snakemake(workdir, target, *overlay(workdir, tiny))
    samples = [json.loads(line) for line in (workdir / "results/eval/tiny/humaneval.samples.jsonl").read_text().splitlines()]
    assert [s["task_id"] for s in samples] == ["HumanEval/0", "HumanEval/1"]
    assert all(s["prompt"].startswith("You are an exceptionally intelligent coding assistant") for s in samples)
    assert all(s["solution"].startswith(s["prompt"].split("```python\n")[-1]) for s in samples)
    result = json.loads((workdir / target).read_text())
    assert result["self_check"]["ok"] and result["generation"] == {"max_new_tokens": 8, "n": 1, "temperature": 0.0}
    assert result["engines"] == ["transformers-plain"]  # which engine wrote the samples, for the report
    assert set(result["per_task"]) == {"HumanEval/0", "HumanEval/1"} and result["model"]["path"] == str(tiny)

    # A scoring-only setting reruns the score, not the generation; another benchmark's setting nothing.
    dry = run_snakemake(workdir, target, "-n", *overlay(workdir, tiny, min_time_limit=2.0)).stdout
    assert "eval_score" in dry and "eval_generate" not in dry
    overlay(workdir, tiny)
    cfg = yaml.safe_load((workdir / "eval.yaml").read_text())
    cfg["evaluation"]["benchmarks"]["mbpp"]["max_new_tokens"] = 16
    (workdir / "eval.yaml").write_text(yaml.safe_dump(cfg))
    nothing = run_snakemake(workdir, target, "-n", "--configfile", "eval.yaml")
    assert "Nothing to be done" in nothing.stdout + nothing.stderr
    # A generation setting reruns both.
    dry = run_snakemake(workdir, target, "-n", *overlay(workdir, tiny, max_new_tokens=12)).stdout
    assert "eval_generate" in dry and "eval_score" in dry


def test_bad_input_errors(workdir, tiny):
    args = overlay(workdir, tiny)
    proc = run_snakemake(workdir, "results/eval/missing/humaneval.json", *args, check=False)
    log = (workdir / "results/logs/eval/missing/humaneval.generate.log").read_text()
    assert proc.returncode != 0 and "no-such-ckpt: no such checkpoint directory" in log
    proc = run_snakemake(workdir, "results/eval/tiny/nosuch.json", *args, check=False)
    assert proc.returncode != 0 and "unknown benchmark 'nosuch'" in proc.stdout + proc.stderr
