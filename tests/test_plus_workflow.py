"""The plus preset in the workflow: its stages run on the demo pack after substring decontamination,
each reading the previous one's kept records; both paper presets accept it as an overlay."""
import json
import re

from conftest import run_snakemake

from magicoder_repro.jsonl import read_jsonl

PLUS = "results/data/plus"


def test_plus_stages_chain_after_substring_decontamination(workdir):
    run_snakemake(workdir, f"{PLUS}/oss_instruct.semantic.json", f"{PLUS}/execution/python.json",
                  f"{PLUS}/execution/rust.json", "--configfile", "configs/magicoder-plus.yaml")
    substring_kept = read_jsonl(workdir / "results/data/oss_instruct.jsonl")
    dedup = json.loads((workdir / f"{PLUS}/oss_instruct.near_dedup.json").read_text())
    dedup_kept = read_jsonl(workdir / f"{PLUS}/oss_instruct.near_dedup.jsonl")
    assert dedup["input"] == len(substring_kept) > 0
    assert dedup["kept"] == len(dedup_kept) and dedup["kept"] + dedup["removed"] == dedup["input"]
    assert dedup["settings"] == {"threshold": 0.8, "num_perm": 128, "shingle_size": 5, "columns": ["problem", "solution"]}

    semantic = json.loads((workdir / f"{PLUS}/oss_instruct.semantic.json").read_text())
    kept = read_jsonl(workdir / f"{PLUS}/oss_instruct.semantic.jsonl")
    assert semantic["input"] == len(dedup_kept) and semantic["kept"] == len(kept)
    assert semantic["benchmark_problems"] == {"mbpp": 500, "humaneval": 164}
    assert semantic["skipped"] == ["apps", "ds1000", "gsm8k"]
    substring_removed = read_jsonl(workdir / "results/data/oss_instruct.removed.jsonl")
    assert semantic["substring_removed"] == len(substring_removed)
    assert 0 <= semantic["substring_removed_also_caught_by_embedding"] <= len(substring_removed)
    assert all(r["cosine"] >= 0.7 for r in read_jsonl(workdir / f"{PLUS}/oss_instruct.semantic.removed.jsonl"))
    assert semantic["removed"] <= semantic["prefilter"]["candidates"] <= semantic["input"]  # static prefilter first

    # Execution filter: every Python record checked in the sandbox, each with one outcome; Rust passes through.
    python = json.loads((workdir / f"{PLUS}/execution/python.json").read_text())
    parsed = read_jsonl(workdir / "results/generate/python.records.jsonl")
    assert python["checked"] == len(parsed) > 0 and sum(python["outcomes"].values()) == len(parsed)
    kept = read_jsonl(workdir / f"{PLUS}/execution/python.records.jsonl")  # the preset keeps clean untested runs
    assert len(kept) == python["outcomes"].get("passed", 0) + python["outcomes"].get("untested", 0) == python["kept"]
    rust = json.loads((workdir / f"{PLUS}/execution/rust.json").read_text())
    assert rust["checked"] == 0 and rust["kept"] == rust["not_checked"] == rust["input"] > 0

    # A changed threshold reruns only the semantic stage (the distilled static model is kept).
    (workdir / "stricter.yaml").write_text("curation: {semantic_decontamination: {threshold: 0.9, prefilter: {threshold: 0.5}}}\n")
    proc = run_snakemake(workdir, "-n", f"{PLUS}/oss_instruct.semantic.json", "--configfile", "configs/magicoder-plus.yaml",
                         "stricter.yaml")
    assert "semantic_decontaminate" in proc.stdout and "rule near_dedup" not in proc.stdout
    assert "static_embedding_model" not in proc.stdout


def planned_jobs(stdout: str) -> dict[str, int]:
    """The dry run's job stats table: rule name -> count."""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stdout, re.MULTILINE)}


def test_plus_overlays_paper_presets(workdir):
    for paper in ("configs/magicoder-ds.yaml", "configs/magicoder-cl.yaml"):
        jobs = planned_jobs(run_snakemake(workdir, "-n", "--configfile", paper, "configs/magicoder-plus.yaml").stdout)
        assert jobs["near_dedup"] == 1 and jobs["semantic_decontaminate"] == 1 and jobs["execution_filter"] == 9
        assert jobs["static_embedding_model"] == 1
    jobs = planned_jobs(run_snakemake(workdir, "-n").stdout)
    assert not {"near_dedup", "semantic_decontaminate", "execution_filter"} & set(jobs)  # off by default
