"""Incremental reruns and byte-identical reruns of the data stages, judged by Snakemake itself: after a
real run, a dry run (-n) lists the jobs a change would rerun (its `Job stats` table)."""
import hashlib
import re
from pathlib import Path

from conftest import REPO, run_snakemake

DATA_TARGETS = ["results/sft/stage1.jsonl", "results/sft/stage2.jsonl"]


def jobs_to_run(workdir: Path, *args: str) -> set:
    """Rules a dry run of the data targets would run (rule names from the `Job stats` table)."""
    out = run_snakemake(workdir, "-n", *DATA_TARGETS, *args).stdout
    if "Nothing to be done" in out:
        return set()
    table = out.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", table, re.M)} - {"job"}


def overlay(workdir: Path, name: str, text: str) -> list:
    path = workdir / f"{name}.yaml"
    path.write_text(text)
    return ["--configfile", str(path)]


def digests(workdir: Path) -> dict:
    results = workdir / "results"
    return {
        str(p.relative_to(results)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(results.rglob("*"))
        if p.is_file() and p.relative_to(results).parts[0] not in ("logs", "benchmarks", "provenance")
    }


def test_changes_rerun_exactly_what_depends_on_them(workdir):
    run_snakemake(workdir, *DATA_TARGETS)
    assert jobs_to_run(workdir) == set()

    # A teacher setting: generation and everything after it, never the seeds.
    teacher = jobs_to_run(workdir, *overlay(workdir, "teacher", "teacher: {max_tokens: 2000}\n"))
    assert "generate" in teacher and "seeds" not in teacher
    assert {"clean", "decontaminate"} <= teacher

    # A curation setting: curation only.
    curation = jobs_to_run(workdir, *overlay(workdir, "curation", "curation: {shuffle_seed: 1}\n"))
    assert "clean" in curation and not curation & {"seeds", "generate", "parse"}

    # A new image digest for the data environment reruns the steps that run in it.
    image = jobs_to_run(workdir, *overlay(workdir, "image", f"runtime: {{images: {{data: 'sha256:{'1' * 64}'}}}}\n"))
    assert {"seeds", "generate", "clean"} <= image

    # Prose is not an input: editing a README reruns nothing.
    readme = workdir / "README.md"
    readme.write_text("edited\n")
    assert jobs_to_run(workdir) == set()


def test_data_stages_are_byte_identical_across_runs(workdir, tmp_path):
    """Same config, same response cache: the same bytes (the second run in a fresh results/)."""
    run_snakemake(workdir, *DATA_TARGETS)
    first = digests(workdir)
    again = tmp_path / "again"
    again.mkdir()
    for entry in workdir.iterdir():
        if entry.name not in ("results", ".snakemake"):
            (again / entry.name).symlink_to(entry.resolve() if entry.is_symlink() else entry)
    run_snakemake(again, *DATA_TARGETS)
    assert len(first) > 10 and digests(again) == first
