"""How rules say they run: `snakemake --lint` passes for the default config and the paper presets, and
every GPU rule of the paper preset asks for its GPUs in the executor plugin's terms (checked on the
jobs Snakemake plans, without running them)."""
import re

import pytest

from conftest import REPO, run_snakemake

STAGE_PACKAGES = ("core", "data", "train", "evaluate", "plus", "report")

PAPER_PLUS = ["--configfile", "config.yaml", "configs/magicoder-ds.yaml", "configs/magicoder-plus.yaml"]


@pytest.mark.parametrize("preset", [[], PAPER_PLUS], ids=["default", "paper+plus"])
def test_lint_passes(workdir, preset):
    proc = run_snakemake(workdir, "--lint", *preset, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Lints for" not in proc.stdout + proc.stderr


def test_scorer_workers_are_the_jobs_cores(workdir):
    """Each paper-preset eval_score job asks for one core per scoring worker (the benchmark's
    `parallel`) and joins group `score` (the SLURM profile packs 9 scores into one job)."""
    out = run_snakemake(workdir, "-n", "--cores", "64", *PAPER_PLUS).stdout
    scores = re.findall(r"^ *rule eval_score:$(.*?)^ *resources:", out, re.M | re.S)
    assert len(scores) == 27  # 3 models x 9 benchmarks
    assert all(re.search(r"^ *threads: 8$", block, re.M) for block in scores)
    assert out.count("Group job score") == 27  # one group per job in a local plan; components join them on SLURM


def test_every_module_a_rule_runs_is_a_stage_of_the_tree():
    """Each `python -m magicoder_repro.<package>.<module>` in the rules and launch scripts names a module of
    a stage package (README, From seed to score) with a main(); no module lies outside the packages."""
    package = REPO / "scripts/magicoder_repro"
    called = set()
    for path in [REPO / "Snakefile", *REPO.glob("rules/*.smk"), *REPO.glob("scripts/*.sh")]:
        called |= set(re.findall(r"-m (magicoder_repro(?:\.\w+)+)", path.read_text()))
    assert len(called) >= 20, called
    for name in sorted(called):
        parts = name.split(".")[1:]
        assert len(parts) == 2 and parts[0] in STAGE_PACKAGES, name
        source = package.joinpath(*parts).with_suffix(".py").read_text()
        assert "\ndef main(" in source, f"{name} has no main()"
    assert sorted(p.name for p in package.glob("*.py")) == ["__init__.py"]
    assert sorted(p.name for p in package.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(STAGE_PACKAGES)
