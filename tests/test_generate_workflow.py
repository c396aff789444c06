"""The generate and parse rules inside Snakemake: replay run end to end, which edits rerun what, and a
killed run resumed by `make run`'s command."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from conftest import only_languages, run_snakemake

sys.path.insert(0, str(Path(__file__).parent))
from fault_server import FaultServer, completion_for  # noqa: E402

from magicoder_repro.core.jsonl import read_jsonl
from magicoder_repro.data.requests import build_request, load_template, request_key
from magicoder_repro.data.teacher_cache import ResponseCache, read_answers


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


def test_a_killed_run_resumes_with_make_runs_command_and_buys_nothing_twice(workdir):
    """kill -9 of Snakemake and its jobs mid-generation leaves Snakemake's lock; scripts/run-pipeline.sh
    (what `make run` runs) refuses while it lives, then sees no live Snakemake here, unlocks, reruns the incomplete job, and the
    teacher is asked only for what was not cached."""
    target = "results/generate/python.records.jsonl"
    with FaultServer(latency_s=0.3) as server:
        (workdir / "teacher.yaml").write_text(yaml.safe_dump(
            {"teacher": {"backend": "openai", "base_url": server.base_url, "concurrency": 2}}))
        args = ["--cores", "2", target, *only_languages(workdir, "python")[:-1], "teacher.yaml"]
        env = {**os.environ, "OPENAI_API_KEY": "k", "OMP_NUM_THREADS": "1"}
        run = subprocess.Popen([sys.executable, "-m", "snakemake", *args], cwd=workdir, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        cache_file = workdir / "cache/teacher/responses.jsonl"
        deadline = time.monotonic() + 300
        while not (cache_file.exists() and cache_file.read_bytes().count(b"\n") >= 3):
            assert time.monotonic() < deadline and run.poll() is None, "generation did not get going"
            time.sleep(0.05)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        resume = ["bash", "scripts/run-pipeline.sh", *args]
        busy = subprocess.run(resume, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
        assert busy.returncode == 1 and f"another Snakemake run (pid {run.pid}) is working in" in busy.stderr, busy.stderr
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        assert list((workdir / ".snakemake/locks").iterdir()), "the killed run left no lock"
        bought = set(read_answers([cache_file])[0])
        assert 3 <= len(bought) < 16

        proc = subprocess.run(resume, cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
        assert "a killed run left its lock" in proc.stdout and "done in " in proc.stdout
        assert not {k for k in bought if server.attempts[k] > 1}, "an answer saved before the kill was bought again"
        assert len(read_jsonl(workdir / target)) == len(read_jsonl(workdir / "results/seeds/python.jsonl")) == 16
