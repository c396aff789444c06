"""The data stages run in their image (real dockerd, an image built here from the pinned lock file on a
debootstrap base) give the same bytes as outside it; a missing or unpinned image is a clear error."""
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, run_snakemake

DATA_TARGETS = ["results/sft/stage1.jsonl", "results/sft/stage2.jsonl"]
NOT_COMPARED = ("logs", "benchmarks", "provenance")  # timings and run records, not stage outputs


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout.strip()


@pytest.fixture(scope="session")
def data_image():
    """Start dockerd if needed and build the data image (both cached by content: a rerun takes seconds)."""
    sh("bash", str(REPO / "tests/setup/start-docker.sh"), timeout=120)
    base = sh(str(REPO / "containers/build-base.sh"), timeout=900)
    return sh(str(REPO / "containers/build.sh"), "data", env={**os.environ, "BASE": base}, timeout=900)


def output_digests(workdir: Path) -> dict:
    results = workdir / "results"
    return {
        str(p.relative_to(results)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(results.rglob("*"))
        if p.is_file() and p.relative_to(results).parts[0] not in NOT_COMPARED
    }


def docker_config(workdir: Path, image: str) -> str:
    path = workdir / "docker.yaml"
    path.write_text(f'runtime:\n  docker: true\n  images: {{data: "{image}"}}\n')
    return str(path)


def test_data_stages_in_image_match_outside(workdir, tmp_path, data_image):
    outside = tmp_path / "outside"
    outside.mkdir()
    for entry in workdir.iterdir():
        (outside / entry.name).symlink_to(entry.resolve())
    run_snakemake(outside, *DATA_TARGETS)
    run_snakemake(workdir, *DATA_TARGETS, "--configfile", docker_config(workdir, data_image))
    inside, reference = output_digests(workdir), output_digests(outside)
    assert "sft/stage1.jsonl" in reference and len(reference) > 10
    assert inside == reference


def test_steps_really_run_in_the_image(workdir, data_image):
    """An image without the packages fails the steps: they do not quietly run on the host."""
    base = sh(str(REPO / "containers/build-base.sh"))
    bare = sh("docker", "image", "inspect", "--format", "{{.Id}}", base)
    proc = run_snakemake(workdir, "results/seeds/python.jsonl", "--configfile", docker_config(workdir, bare), check=False)
    assert proc.returncode != 0
    assert not (workdir / "results/seeds/python.jsonl").exists()


def test_missing_image_is_a_clear_error(workdir, data_image):
    missing = "sha256:" + "0" * 64
    proc = run_snakemake(workdir, "results/seeds/python.jsonl", "--configfile", docker_config(workdir, missing), check=False)
    assert proc.returncode != 0
    assert f"image {missing} (runtime.images.data) is not on this Docker host" in proc.stdout + proc.stderr


def test_unpinned_image_is_refused(workdir):
    proc = run_snakemake(workdir, "-n", "--configfile", docker_config(workdir, "magicoder-repro/data:latest"), check=False)
    assert proc.returncode != 0
    assert "runtime.images.data = 'magicoder-repro/data:latest' is not pinned" in proc.stdout + proc.stderr
