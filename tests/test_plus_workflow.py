"""The plus preset in the workflow: its stages run on the demo pack after substring decontamination,
each reading the previous one's kept records; the execution filter runs the teacher's tests (replayed)
with each language's toolchain; both paper presets accept it as an overlay."""
import json
import re

from conftest import run_snakemake

from magicoder_repro.core.jsonl import read_jsonl

PLUS = "results/data/plus"
CHECKED = ["python", "cpp", "java", "php", "rust", "shell", "typescript"]
# What the demo pack's recorded tests (data/demo/answers/tests/) find, per language.
OUTCOMES = {"python": {"passed": 12, "failed": 2, "timeout": 1}, "cpp": {"passed": 4, "failed": 1},
            "java": {"passed": 5, "failed": 1}, "php": {"passed": 4, "failed": 2}, "rust": {"passed": 4, "failed": 1},
            "shell": {"passed": 4, "failed": 1}, "typescript": {"passed": 5, "failed": 1}}


def test_plus_stages_chain_after_substring_decontamination(workdir):
    run_snakemake(workdir, f"{PLUS}/oss_instruct.semantic.json", *(f"{PLUS}/execution/{lang}.json" for lang in CHECKED),
                  f"{PLUS}/execution/swift.json", "--configfile", "configs/magicoder-plus.yaml")
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
    # The float32 re-embedding covers every removal when the first pass was in reduced precision.
    assert semantic["precision"] in ("float32", "bfloat16")
    if semantic["precision"] == "bfloat16":
        assert semantic["removed"] <= semantic["rescored_in_float32"] < semantic["input"]

    # Execution filter: one test request per parsed record (replayed), every record run with its tests in
    # the sandbox with its language's toolchain, only passing ones kept; Swift (not listed) passes through.
    for lang in CHECKED:
        parsed = read_jsonl(workdir / f"results/generate/{lang}.records.jsonl")
        tests = read_jsonl(workdir / f"{PLUS}/execution/{lang}.tests.jsonl")
        assert [t["index"] for t in tests] == [r["index"] for r in parsed] and all("response" in t for t in tests)
        ledger = json.loads((workdir / f"{PLUS}/execution/{lang}.tests.ledger.json").read_text())
        assert ledger["answered"] == len(parsed) and ledger["requests_sent"] == 0
        summary = json.loads((workdir / f"{PLUS}/execution/{lang}.json").read_text())
        assert summary["settings"]["tests"] == "teacher" and summary["checked"] == len(parsed)
        assert summary["outcomes"] == OUTCOMES[lang], lang
        kept = read_jsonl(workdir / f"{PLUS}/execution/{lang}.records.jsonl")
        assert len(kept) == summary["kept"] == OUTCOMES[lang]["passed"]
    removed = {(lang, r["index"]): r["execution"] for lang in CHECKED
               for r in read_jsonl(workdir / f"{PLUS}/execution/{lang}.removed.jsonl")}
    assert removed[("python", 9)]["outcome"] == "timeout"  # a test waiting for an event nobody sets
    assert "No such file or directory: '/var/tmp/" in removed[("python", 15)]["stderr"]  # outside: not in its view
    assert "could not download" in removed[("php", 2)]["stderr"]  # no network
    assert "error[E0599]" in removed[("rust", 1)]["stderr"]  # the test calls a method that does not exist
    assert "error TS2344" in removed[("typescript", 2)]["stderr"]  # the solution's own bus does not type-check
    swift = json.loads((workdir / f"{PLUS}/execution/swift.json").read_text())
    assert swift["checked"] == 0 and swift["kept"] == swift["not_checked"] == swift["input"] > 0
    assert swift["not_checked_reasons"] == {"not in curation.execution_filter.languages": swift["input"]}

    # Editing the tests template asks the teacher again, and reruns the filter.
    edited = workdir / "edited_tests.txt"
    edited.write_text((workdir / "prompts/execution_tests.txt").read_text() + "\nKeep it short.")
    (workdir / "edited.yaml").write_text(f"curation: {{execution_filter: {{tests_prompt_template: {edited}}}}}\n")
    jobs = planned_jobs(run_snakemake(workdir, "-n", f"{PLUS}/execution/cpp.json", "--configfile",
                                      "configs/magicoder-plus.yaml", "edited.yaml").stdout)
    assert jobs == {"teacher_tests": 1, "execution_filter": 1, "total": 2}

    # A changed threshold or first-pass precision reruns only the semantic stage.
    for name, change in [("stricter", "threshold: 0.9"), ("exact", "precision: float32")]:
        (workdir / f"{name}.yaml").write_text(f"curation: {{semantic_decontamination: {{{change}}}}}\n")
        jobs = planned_jobs(run_snakemake(workdir, "-n", f"{PLUS}/oss_instruct.semantic.json", "--configfile",
                                          "configs/magicoder-plus.yaml", f"{name}.yaml").stdout)
        assert jobs == {"semantic_decontaminate": 1, "total": 1}


def planned_jobs(stdout: str) -> dict[str, int]:
    """The dry run's job stats table: rule name -> count."""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stdout, re.MULTILINE)}


def test_plus_overlays_paper_presets(workdir):
    for paper in ("configs/magicoder-ds.yaml", "configs/magicoder-cl.yaml"):
        jobs = planned_jobs(run_snakemake(workdir, "-n", "--configfile", paper, "configs/magicoder-plus.yaml").stdout)
        assert jobs["near_dedup"] == 1 and jobs["semantic_decontaminate"] == 1 and jobs["execution_filter"] == 9
        assert jobs["teacher_tests"] == len(CHECKED)
    jobs = planned_jobs(run_snakemake(workdir, "-n").stdout)
    assert not {"near_dedup", "semantic_decontaminate", "execution_filter", "teacher_tests"} & set(jobs)  # off by default
