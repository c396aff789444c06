"""The price before paying (magicoder_repro.data.plan, rule plan) and teacher.budget_usd, against real
generation runs on the local fault server (tests/fault_server.py) and a real Snakemake run."""
import json
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from conftest import run_snakemake
from fault_server import FaultServer
from magicoder_repro.data import budget
from magicoder_repro.data.teacher_cache import read_answers
from test_generate import env, generate_cmd, run, teacher_config, write_seeds

OFFLINE_TIKTOKEN = {"TIKTOKEN_CACHE_DIR": "/nonexistent/tiktoken-cache"}   # no encoding file: estimates


def plan_cmd(tmp: Path, seeds: Path, teacher: dict) -> list[str]:
    config = {"teacher": teacher, "curation": {}, "evol": {"dataset": "ise-uiuc/Magicoder-Evol-Instruct-110K"},
              "train": {"base_model": "deepseek-ai/deepseek-coder-6.7b-base", "packing": False,
                        "stages": {"stage1": {"epochs": 2}, "stage2": {"epochs": 2}}},
              "evaluation": {"models": {"stage2": {"path": "stage2"}}, "benchmarks": {"humaneval": {"kind": "humaneval", "limit": 82}}}}
    return [sys.executable, "-m", "magicoder_repro.data.plan", "--config", json.dumps(config), "--seeds", str(seeds),
            "--cache", str(tmp / "cache" / "teacher"), "--results", str(tmp / "results"),
            "--text", str(tmp / "plan.txt"), "--summary", str(tmp / "plan.json")]


def test_the_plan_counts_exactly_the_requests_generation_then_sends(tmp_path):
    seeds = write_seeds(tmp_path / "python.jsonl", 8)
    with FaultServer() as server:
        teacher = teacher_config(base_url=server.base_url)
        # Three of the eight already bought (the same first three seeds, the same cache).
        first = run(generate_cmd(tmp_path, write_seeds(tmp_path / "first.jsonl", 3), teacher, "first"), MAGICODER_TEST_KEY="k")
        assert first.returncode == 0, first.stderr[-2000:]
        bought = dict(server.attempts)

        proc = subprocess.run(plan_cmd(tmp_path, seeds, teacher), env=env(**OFFLINE_TIKTOKEN), capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        plan = json.loads((tmp_path / "plan.json").read_text())
        assert set(server.attempts) == set(bought), "the plan sent a request"

        assert run(generate_cmd(tmp_path, seeds, teacher, "out"), MAGICODER_TEST_KEY="k").returncode == 0
        sent = {k for k in server.attempts if k not in bought}
    row = plan["teacher"][0]
    assert (row["stage"], row["requests"], row["cached"], row["to_send"]) == ("generate/python", 8, 3, len(sent))
    assert len(sent) == 5 == json.loads((tmp_path / "out.ledger.json").read_text())["requests_sent"]
    cached = read_answers([tmp_path / "cache" / "teacher" / "responses.jsonl"], set(bought))[0]
    mean = sum(a["usage"]["completion_tokens"] for a in cached.values()) / 3
    assert row["output_tokens"] == round(5 * mean) and row["output_tokens_from"] == "mean of 3 cached answers (this stage's)"
    assert plan["prompt_tokens_counted"].startswith("estimated at 3 characters a token (tiktoken's cl100k_base encoding")
    assert row["price_usd"] == round((row["prompt_tokens"] * 1.0 + row["output_tokens"] * 2.0) / 1e6, 4)
    # GPU-hours: the paper recipe's measured 6.7B throughput, and HumanEval+'s half (limit 82 of 164).
    stage1 = plan["training"][0]
    assert stage1["tokens"] == 8 * 500 * 2 and stage1["gpu_hours"] == round(8000 / 3595 / 3600, 2)
    assert plan["training"][1]["records"] == 110000 and plan["evaluation"][0]["gpu_hours"] == 0.007
    text = (tmp_path / "plan.txt").read_text()
    assert "3,595 tokens/s: DS-6.7B paper recipe, BENCHMARKS.md" in text and "prompt tokens: estimated" in text


def test_the_budget_stops_before_a_request_that_could_pass_it_and_a_raised_one_resumes(tmp_path):
    seeds = write_seeds(tmp_path / "seeds.jsonl", 10)
    price = {"input": 1000.0, "output": 1000.0}   # a request's worst case (prompt + 2500 tokens): ~2.6 USD
    with FaultServer() as server:
        teacher = teacher_config(base_url=server.base_url, price_per_million_tokens=price)
        proc = run(generate_cmd(tmp_path, seeds, teacher, "out") + ["--budget-usd", "3"], MAGICODER_TEST_KEY="k", **OFFLINE_TIKTOKEN)
        assert proc.returncode == 1
        errors = [line for line in proc.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and "teacher.budget_usd (3 USD) reached" in errors[0] and "raise teacher.budget_usd" in errors[0]
        cache = tmp_path / "cache" / "teacher"
        spent, paid = budget.spent_usd(cache, price, None), dict(server.attempts)
        answered = len(read_answers([cache / "responses.jsonl"])[0])
        assert 1 <= answered < 10 and f"({10 - answered} requests not sent)" in errors[0]
        assert spent <= 3 and len(paid) == answered
        assert not (tmp_path / "out.responses.jsonl").exists()

        proc = run(generate_cmd(tmp_path, seeds, teacher, "out") + ["--budget-usd", "100"], MAGICODER_TEST_KEY="k", **OFFLINE_TIKTOKEN)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert len(server.attempts) == 10 and set(server.attempts.values()) == {1}, "something paid was asked again"
    rows = [json.loads(line) for line in (tmp_path / "out.responses.jsonl").read_text().splitlines()]
    assert len(rows) == 10 and all("response" in row for row in rows)


def test_make_plan_through_snakemake_and_a_budget_below_the_cache_before_any_job(workdir):
    cache = workdir / "cache" / "teacher"
    cache.mkdir(parents=True)
    answer = {"choices": [{"message": {"role": "assistant", "content": "x"}}], "usage": {"prompt_tokens": 10**6, "completion_tokens": 0}}
    (cache / "responses.jsonl").write_text(json.dumps({"key": "k" * 64, "request": {}, "response": answer}) + "\n")
    (workdir / "live.yaml").write_text(yaml.safe_dump({"teacher": {"backend": "openai", "budget_usd": 0.5}}))
    proc = run_snakemake(workdir, "-n", "--configfile", "live.yaml", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Job stats" not in out
    line = next(line for line in out.splitlines() if "teacher.budget_usd is 0.5 USD" in line)
    assert "cost 1.0000 USD" in line and "cache/teacher" in line

    one_language = {lang: {"count": 0} for lang in ("typescript", "csharp", "rust", "swift", "php", "java", "cpp", "shell")}
    (workdir / "live.yaml").write_text(yaml.safe_dump({"teacher": {"backend": "openai", "budget_usd": 2},
                                                       "seeds": {"sources": one_language}}))
    proc = run_snakemake(workdir, "plan", "--forcerun", "plan", "--configfile", "live.yaml", env=OFFLINE_TIKTOKEN)
    assert "generate" not in {p.name for p in (workdir / "results").iterdir()}, "the plan ran generation"
    plan = json.loads((workdir / "results" / "plan" / "plan.json").read_text())
    seeds = (workdir / "results" / "seeds" / "python.jsonl").read_text().splitlines()
    assert [row["stage"] for row in plan["teacher"]] == ["generate/python"]
    assert plan["total"]["to_send"] == plan["total"]["requests"] == len(seeds) == 16
    assert plan["budget"]["spent_usd"] == 1.0 and "budget: teacher.budget_usd 2; spent 1.0000" in proc.stdout
    assert "train.base_model tiny runs on the CPU" in proc.stdout
