"""Provenance records of a real run of the data stages: one per output, written by the Snakefile's
onsuccess handler (magicoder_repro.core.provenance); the outputs Snakemake lists come from `--summary`."""
import hashlib
import json
from pathlib import Path

from conftest import run_snakemake

TARGET = "results/sft/stage1.jsonl"
DATA_RULES = {"seeds", "generate", "parse", "clean", "decontaminate", "sft_stage1"}


def outputs_by_rule(workdir: Path) -> dict:
    """Each output of the target's DAG with the rule that made it, as Snakemake reports them."""
    rows = run_snakemake(workdir, "--summary", TARGET).stdout.splitlines()
    header = rows[0].split("\t")
    found = {}
    for row in rows[1:]:
        fields = dict(zip(header, row.split("\t")))
        found[fields["output_file"]] = fields["rule"]
    return found


def record(workdir: Path, output: str) -> dict:
    return json.loads((workdir / "results/provenance" / f"{Path(output).relative_to('results')}.json").read_text())


def test_every_data_output_has_a_provenance_record(workdir):
    run_snakemake(workdir, TARGET)
    outputs = {out: rule for out, rule in outputs_by_rule(workdir).items() if rule in DATA_RULES}
    assert set(outputs.values()) == DATA_RULES
    for output, rule in outputs.items():
        rec = record(workdir, output)
        assert rec["rule"] == rule and rec["output"] == output
        assert len(rec["params_sha256"]) == 64 and rec["image"] is None  # the offline default runs no image
        assert rec["code"].get("git_commit") or rec["code"].get("code_sha256")
        assert rec["packages"]["snakemake"]
        for path, checksum in rec["inputs"].items():
            if (workdir / path).is_file():
                assert checksum == hashlib.sha256((workdir / path).read_bytes()).hexdigest(), (output, path)

    stage1 = record(workdir, TARGET)
    assert set(stage1["inputs"]) == {"results/data/oss_instruct.jsonl"}

    # A teacher setting reaches generate as a param: its record's params hash follows it.
    generate = next(out for out, rule in outputs.items() if rule == "generate")
    before = record(workdir, generate)["params_sha256"]
    overlay = workdir / "teacher.yaml"
    overlay.write_text("teacher: {price_per_million_tokens: {input: 2.0, output: 4.0}}\n")
    run_snakemake(workdir, TARGET, "--configfile", str(overlay))
    assert record(workdir, generate)["params_sha256"] != before
    assert record(workdir, "results/seeds/python.jsonl")["params_sha256"]  # seeds kept their record
