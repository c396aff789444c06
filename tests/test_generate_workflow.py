"""The generate and parse rules inside Snakemake: replay run end to end, and which edits rerun what."""
import json
import sys
from pathlib import Path

import yaml

from conftest import run_snakemake

sys.path.insert(0, str(Path(__file__).parent))
from fault_server import completion_for  # noqa: E402

from magicoder_repro.jsonl import read_jsonl
from magicoder_repro.requests import build_request, load_template, request_key
from magicoder_repro.teacher_cache import ResponseCache


def test_replay_through_snakemake_and_rerun_triggers(workdir):
    run_snakemake(workdir, "results/seeds/python.jsonl")
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    teacher = config["teacher"]
    template = load_template(workdir / teacher["prompt_template"])
    recorder = ResponseCache(workdir / "recorded")
    seeds = read_jsonl(workdir / "results/seeds/python.jsonl")
    for i, record in enumerate(seeds):
        request = build_request(record["seed"], record["index"], teacher, template)
        answer = completion_for(request)
        if i == 0:
            answer["choices"][0]["finish_reason"] = "length"
        recorder.append(request_key(request), request, answer)
    recorder.close()
    overlay = workdir / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"teacher": {"replay_file": "recorded/responses.jsonl"}}))

    target = "results/generate/python.records.jsonl"
    run_snakemake(workdir, target, "--configfile", str(overlay))
    records = read_jsonl(workdir / target)
    assert [r["index"] for r in records] == [s["index"] for s in seeds[1:]]
    assert all(r["openai_fingerprint"] == "fp_fault_server" for r in records)
    stats = json.loads((workdir / "results/generate/python.parse_stats.json").read_text())
    assert stats == {"responses": len(seeds), "kept": len(seeds) - 1, "dropped": {"finish_reason_length": 1}}
    ledger = json.loads((workdir / "results/generate/python.ledger.json").read_text())
    assert ledger["answered"] == len(seeds) and ledger["requests_sent"] == 0
    assert (workdir / "results/benchmarks/generate/python.tsv").exists()

    # Runtime knobs rerun nothing; a setting that changes the request reruns generate and parse.
    knobs = {"teacher": {"replay_file": "recorded/responses.jsonl", "concurrency": 3, "timeout_s": 9}}
    overlay.write_text(yaml.safe_dump(knobs))
    dry = run_snakemake(workdir, "-n", target, "--configfile", str(overlay))
    assert "Nothing to be done" in dry.stdout + dry.stderr
    knobs["teacher"]["temperature"] = 0.2
    overlay.write_text(yaml.safe_dump(knobs))
    dry = run_snakemake(workdir, "-n", target, "--configfile", str(overlay))
    assert "generate" in dry.stdout and "parse" in dry.stdout

    # The replay file no longer answers these requests: the job fails and says how to record them.
    proc = run_snakemake(workdir, target, "--configfile", str(overlay), check=False)
    assert proc.returncode != 0
    log = (workdir / "results/logs/generate/python.log").read_text()
    assert "have no recorded answer" in log and "python seed index" in log
