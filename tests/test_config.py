"""The config is checked before anything runs, and the paper presets describe the whole DAG."""
import re

import pytest
import yaml

from conftest import run_snakemake


def job_counts(dry_run_output: str) -> dict[str, int]:
    """Snakemake's 'Job stats' table of a dry run, as {rule: count}."""
    table = dry_run_output.split("Job stats:")[1].split("total")[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.mark.parametrize(
    "overlay, named",
    [
        ({"teacher": {"temprature": 0.2}}, "'temprature' was unexpected"),
        ({"seeds": {"max_lines": "fifteen"}}, "max_lines"),
        ({"sft": {"oss_instruction": "no placeholder"}}, "oss_instruction"),
    ],
)
def test_bad_config_stops_before_any_job_naming_the_key(workdir, overlay, named):
    (workdir / "bad.yaml").write_text(yaml.safe_dump(overlay))
    proc = run_snakemake(workdir, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    error = proc.stdout.splitlines()[-1]   # one line (config_files.validate), naming the key
    assert error.startswith("error: config key ") and named in error, proc.stdout[-3000:]
    assert "Job stats" not in proc.stdout


@pytest.mark.parametrize("preset", ["magicoder-ds", "magicoder-cl"])
def test_paper_preset_dry_run_shows_the_full_dag(workdir, preset):
    preset_cfg = yaml.safe_load((workdir / "configs" / f"{preset}.yaml").read_text())
    counts = job_counts(run_snakemake(workdir, "-n", "--configfile", f"configs/{preset}.yaml").stdout)
    languages = [lang for lang, src in preset_cfg["seeds"]["sources"].items() if src["count"] > 0]
    assert len(languages) == 9
    for rule in ("seeds", "generate", "parse"):
        assert counts[rule] == len(languages)
    for rule in ("clean", "decontaminate", "evol_instruct", "sft_stage1", "sft_stage2", "train_stage1", "train_stage2", "report"):
        assert counts[rule] == 1
    n_evals = len(preset_cfg["evaluation"]["models"]) * len(preset_cfg["evaluation"]["benchmarks"])
    assert counts["eval_generate"] == counts["eval_score"] == n_evals
    assert "tiny_base_model" not in counts  # the presets train the real base model from the Hub
