"""The workflow on a real one-node SLURM cluster (munged, slurmctld, slurmd started by the set-up script,
two fake GPUs as GRES) through profiles/slurm: the data half's outputs equal a local run's, GPU requests
reach SLURM as GRES, and a bad partition fails at once with SLURM's reason."""
import re
import subprocess

import pytest

from conftest import REPO, only_languages, result_digests, run_snakemake

DATA_TARGETS = ["results/sft/stage1.jsonl", "results/sft/stage2.jsonl"]
SLURM = ["--workflow-profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks", "1"]
HARD_LIMIT_S = 480  # a hang is a failure, not a stuck CI job


@pytest.fixture(scope="session", autouse=True)
def cluster():
    subprocess.run(["bash", str(REPO / "tests/setup/start-slurm.sh")], check=True, timeout=120)


def slurm_snakemake(workdir, *args, check=True, env=None):
    """Snakemake with the SLURM profile, killed (not left hanging) after HARD_LIMIT_S."""
    return run_snakemake(workdir, *SLURM, *args, check=check, env=env, timeout=HARD_LIMIT_S)


def test_data_half_on_slurm_equals_local(workdir, tmp_path):
    # Two languages (Python has planted benchmark text, so decontamination acts): every stage, a third of the jobs.
    config = only_languages(workdir, "python", "rust")
    local = tmp_path / "local"
    local.mkdir()
    for entry in workdir.iterdir():
        (local / entry.name).symlink_to(entry.resolve())
    run_snakemake(local, *config, *DATA_TARGETS)
    proc = slurm_snakemake(workdir, *config, *DATA_TARGETS)
    assert "SLURM jobid" in proc.stdout + proc.stderr  # the steps were cluster jobs
    on_cluster, reference = result_digests(workdir), result_digests(local)
    assert "sft/stage2.jsonl" in reference
    assert on_cluster == reference


def test_gpu_request_reaches_slurm_as_gres(workdir):
    """A rule asking for GPUs (as the training rules do, `gpus` per node) is submitted with --gres."""
    proc = slurm_snakemake(workdir, "results/seeds/python.jsonl", "--set-resources", "seeds:gpus=1")
    jobids = re.findall(r"SLURM jobid (\d+)", proc.stdout + proc.stderr)
    assert jobids
    job = subprocess.run(["scontrol", "show", "job", jobids[0]], capture_output=True, text=True, check=True).stdout
    assert "gres/gpu:1" in job or "gres:gpu:1" in job, job
    assert "JobState=COMPLETED" in job


def test_unknown_partition_fails_clearly(workdir):
    proc = slurm_snakemake(workdir, "results/seeds/python.jsonl", check=False,
                           env={"MAGICODER_SLURM_PARTITION": "no-such-partition"})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "no-such-partition" in out and "invalid partition" in out.lower(), out[-3000:]
