"""Incremental reruns and byte-identical reruns of the data stages, judged by Snakemake itself: after a
real run, a dry run (-n) lists the jobs a change would rerun (its `Job stats` table)."""
import re
from pathlib import Path

from conftest import result_digests, run_snakemake

DATA_TARGETS = ["results/sft/stage1.jsonl", "results/sft/stage2.jsonl"]


def jobs_to_run(workdir: Path, *args: str) -> set:
    """Rules a dry run of the data targets would run (rule names from the `Job stats` table)."""
    out = run_snakemake(workdir, "-n", *DATA_TARGETS, *args).stdout
    if "Nothing to be done" in out:
        return set()
    table = out.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", table, re.M)} - {"job"}


def planned_jobs(workdir: Path, *args: str) -> list:
    """(rule, outputs, reason) of each job a dry run of the default target would run."""
    jobs = []
    for block in run_snakemake(workdir, "-n", *args).stdout.split("\n\n"):
        head = re.search(r"^ *(?:local)?rule (\w+):$", block, re.M)  # indented within a group job
        if head:
            fields = dict(re.findall(r"^ {4,}(\w+): (.*)$", block, re.M))
            jobs.append((head[1], fields["output"].split(", ") if "output" in fields else [], fields["reason"]))
    return jobs


def mark_rest_current(workdir: Path) -> None:
    """After a real run of the data stages, everything after them (training, evaluation, the report,
    ~10 min on CPU) is marked current with `snakemake --touch`: empty placeholders for the outputs, then a forced
    touch records each job's params as if it had run. Dry runs then judge a change by those params."""
    rest = planned_jobs(workdir)
    for rule, outputs, _ in rest:
        for output in outputs:
            path = workdir / output
            if output.startswith(("results/models/", "results/checkpoints/")):  # directory() outputs
                path.mkdir(parents=True, exist_ok=True)
            elif not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
    run_snakemake(workdir, "--touch", "--forcerun", *{rule for rule, _, _ in rest})  # present now: force them
    assert planned_jobs(workdir) == []


def overlay(workdir: Path, name: str, text: str) -> list:
    path = workdir / f"{name}.yaml"
    path.write_text(text)
    return ["--configfile", str(path)]


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

    # A new image (from the image lock) for the data environment reruns the steps that run in it.
    lock = workdir / "images.lock.yaml"
    lock.write_text("".join(f"{env}: {{id: 'sha256:{'1' * 64}', tools: [bwrap]}}\n" for env in ("data", "train", "eval")))
    image = jobs_to_run(workdir, *overlay(workdir, "image", f"runtime: {{docker: true, image_lock: {lock}}}\n"))
    assert {"seeds", "generate", "clean"} <= image

    # Prose is not an input: editing a README reruns nothing.
    readme = workdir / "README.md"
    readme.write_text("edited\n")
    assert jobs_to_run(workdir) == set()


def test_data_stages_are_byte_identical_across_runs(workdir, tmp_path):
    """Same config, same response cache: the same bytes (the second run in a fresh results/)."""
    run_snakemake(workdir, *DATA_TARGETS)
    first = result_digests(workdir)
    again = tmp_path / "again"
    again.mkdir()
    for entry in workdir.iterdir():
        if entry.name not in ("results", ".snakemake"):
            (again / entry.name).symlink_to(entry.resolve() if entry.is_symlink() else entry)
    run_snakemake(again, *DATA_TARGETS)
    assert len(first) > 10 and result_digests(again) == first


def test_evaluation_changes_rerun_only_that_benchmark(workdir):
    run_snakemake(workdir, *DATA_TARGETS)
    mark_rest_current(workdir)

    # A generation setting of one benchmark: its samples and scores for every model, then the report.
    tokens = planned_jobs(workdir, *overlay(workdir, "tokens", "evaluation: {benchmarks: {humaneval: {max_new_tokens: 256}}}\n"))
    assert {rule for rule, _, _ in tokens} == {"eval_generate", "eval_score", "report", "all"}
    evals = [(rule, outputs, reason) for rule, outputs, reason in tokens if rule.startswith("eval_")]
    assert len(evals) == 6 and all(out.endswith(("/humaneval.samples.jsonl", "/humaneval.json")) for _, outs, _ in evals for out in outs)
    assert all(reason.startswith("Params have changed") for rule, _, reason in evals if rule == "eval_generate")

    # A scoring-only setting rescores the samples it has, never regenerates them.
    scoring = planned_jobs(workdir, *overlay(workdir, "scoring", "evaluation: {benchmarks: {mbpp: {min_time_limit: 8.0}}}\n"))
    assert {rule for rule, _, _ in scoring} == {"eval_score", "report", "all"}
    assert sorted(outs[0] for rule, outs, _ in scoring if rule == "eval_score") == [
        f"results/eval/{model}/mbpp.json" for model in ("base", "stage1", "stage2")]

    (workdir / "README.md").write_text("edited\n")
    assert planned_jobs(workdir) == []
