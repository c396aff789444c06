"""Bad input files through the real command lines: a broken line is one error line `file:line: what`
before any output is written, and a lone surrogate in a teacher answer (real APIs return them) goes
through parse and decontamination to disk and back unchanged (jsonl.py's one writing rule). The rule
files' own errors are one line in Snakemake's output too."""
import re
import json
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import run_snakemake
from magicoder_repro.evaluate.benchmarks import read_evalplus
from magicoder_repro.core.jsonl import CorruptRecord, read_jsonl

REPO = Path(__file__).resolve().parents[1]
ANSWER = "[Problem Description]\nReverse a string \ud800 twice.\n\n[Solution]\ndef f(s):\n    return s  # \udfff\n"


def stage(module: str, *args, cwd=REPO):
    env = {"PYTHONPATH": str(REPO / "scripts"), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", f"magicoder_repro.{module}", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def error_line(proc, stage_name: str) -> str:
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f"{stage_name}: error: "), proc.stderr[-3000:]
    return lines[-1].removeprefix(f"{stage_name}: error: ")


def response_row(index: int, text: str) -> dict:
    return {"lang": "python", "index": index, "raw_index": index, "seed": "def f(): pass\n", "request_key": "k",
            "response": {"system_fingerprint": "fp", "choices": [{"finish_reason": "stop", "message": {"content": text}}]}}


def test_a_lone_surrogate_goes_through_parse_and_decontamination(tmp_path):
    responses = tmp_path / "responses.jsonl"
    # json.dumps escapes the surrogates (ensure_ascii): the file is what an API's JSON body carries.
    responses.write_text(json.dumps(response_row(0, ANSWER)) + "\n")
    proc = stage("data.parse", "--responses", responses, "--records", tmp_path / "records.jsonl", "--stats", tmp_path / "stats.json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (record,) = read_jsonl(tmp_path / "records.jsonl")
    assert record["problem"] == "Reverse a string \ud800 twice." and record["solution"].endswith("\udfff")
    assert b"\\ud800" in (tmp_path / "records.jsonl").read_bytes()   # escaped, the rest stays UTF-8

    settings = yaml.safe_load((REPO / "config.yaml").read_text())["curation"]["decontamination"]
    proc = stage("data.decontaminate", "--input", tmp_path / "records.jsonl", "--columns", "problem", "solution",
                 "--settings", json.dumps(settings), "--kept", tmp_path / "kept.jsonl",
                 "--removed", tmp_path / "removed.jsonl", "--summary", tmp_path / "summary.json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert read_jsonl(tmp_path / "kept.jsonl") == [record]


def test_a_broken_jsonl_line_is_one_line_naming_file_and_line_before_any_output(tmp_path):
    responses = tmp_path / "responses.jsonl"
    good = json.dumps(response_row(0, ANSWER))
    out = ["--records", tmp_path / "records.jsonl", "--stats", tmp_path / "stats.json"]
    for broken, what in [('{"lang": "python", "index": 1,', "not valid JSON (Expecting property name enclosed in double quotes at column 31)"),
                         ("[1, 2]", "expected a JSON object, got list"),
                         (b'{"seed": "caf\xe9"}', "not UTF-8 (byte 0xe9 at column 14)")]:
        responses.write_bytes(b"\n".join([good.encode(), b"", broken if isinstance(broken, bytes) else broken.encode(), good.encode()]) + b"\n")
        assert error_line(stage("data.parse", "--responses", responses, *out), "data.parse") == f"{responses}:3: {what}"
        assert not (tmp_path / "records.jsonl").exists()


def test_benchmark_files_config_overlays_and_replay_files_name_the_broken_line(tmp_path):
    bench = tmp_path / "HumanEvalPlus-mini.jsonl"
    bench.write_text('{"task_id": "HumanEval/0"}\n{"task_id": "HumanEval/1" "prompt": ""}\n')
    try:
        read_evalplus(bench)
        raise AssertionError("a broken benchmark file was read")
    except CorruptRecord as e:
        assert str(e) == f"{bench}:2: not valid JSON (Expecting ',' delimiter at column 27)"

    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("teacher:\n  model: gpt-4\n  temperature: [0.2\n")
    line = error_line(stage("core.config_files", REPO / "config.yaml", overlay), "core.config_files")
    assert line.startswith(f"{overlay}:4:1: not valid YAML (")
    overlay.write_text("- teacher\n")
    assert error_line(stage("core.config_files", overlay), "core.config_files") == f"{overlay}:1: a config file holds a mapping of keys, not a list"

    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"lang": "python", "index": 0, "raw_index": 0, "seed": "x = 1\n"}) + "\n")
    replay = tmp_path / "replay.jsonl"
    replay.write_text('{"key": "abc", "request": {}, "response": {"choices": []}}\n')
    teacher = {"backend": "replay", "model": "m", "system_prompt": "s", "temperature": 0.0, "max_tokens": 10}
    line = error_line(stage("data.generate", "--seeds", seeds, "--teacher", json.dumps(teacher), "--template",
                            REPO / "prompts/oss_instruct.txt", "--cache", tmp_path / "cache", "--replay-file", replay,
                            "--responses", tmp_path / "r.jsonl", "--ledger", tmp_path / "l.json"), "data.generate")
    assert "have no recorded answer" in line   # that line answers another request: not in the way
    from magicoder_repro.data.requests import build_request, request_key

    request = build_request("x = 1\n", 0, teacher, (REPO / "prompts/oss_instruct.txt").read_text())
    replay.write_text(json.dumps({"key": request_key(request), "request": request, "response": {"choices": []}}) + "\n")
    line = error_line(stage("data.generate", "--seeds", seeds, "--teacher", json.dumps(teacher), "--template",
                            REPO / "prompts/oss_instruct.txt", "--cache", tmp_path / "cache", "--replay-file", replay,
                            "--responses", tmp_path / "r.jsonl", "--ledger", tmp_path / "l.json"), "data.generate")
    assert line.startswith(f"{replay}:1: the response has no choices (request key {request_key(request)[:16]}); "
                           "a replay file cannot ask again")


def snakemake_error(workdir: Path, *args: str, debug: bool = False) -> tuple[str, str]:
    """What the README's command (`make run` after its set-up) prints in `workdir`, stopping before any
    job: Snakemake's log (stdout), with the error at its end, and stderr."""
    env = {"MAGICODER_DEBUG": "1"} if debug else {"MAGICODER_DEBUG": ""}
    proc = run_snakemake(workdir, "-n", *args, check=False, env=env)
    assert proc.returncode == 1 and not (workdir / "results").exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, proc.stderr


def test_the_rule_files_own_errors_are_one_line_and_snakemake_errors_stay_whole(workdir):
    """A config the schema rejects, a check in a rule file at parse time and an input function's check at
    DAG time each end the log with one line, and no traceback; MAGICODER_DEBUG shows Snakemake's whole
    report; an error of Snakemake's own (no rule for a target) is not touched."""
    (workdir / "bad-key.yaml").write_text("seeds:\n  per_language: 3\n")
    (workdir / "unlocked.yaml").write_text("runtime: {docker: true, image_lock: no-such.lock.yaml}\n")
    cases = {
        ("--configfile", "config.yaml", "bad-key.yaml"): re.escape("config key seeds: Additional properties are not allowed "
        "('per_language' was unexpected) (allowed keys and types: schemas/config.schema.yaml)"),
        ("--configfile", "config.yaml", "unlocked.yaml"): r"\w+: image '\w+' is not in the image lock no-such.lock.yaml "
        r"\(key \w+\): build it with `containers/build.sh \w+`",
        ("results/eval/nomodel/humaneval.json",): re.escape("unknown evaluation model 'nomodel'; configured: base, stage1, stage2"),
    }
    for args, message in cases.items():
        log, stderr = snakemake_error(workdir, *args)
        assert re.fullmatch(f"error: {message}", log.splitlines()[-1]), log[-3000:]
        assert not any(word in log + stderr for word in ("Traceback", 'File "', "Error in", "Exception")), log[-3000:]
    log, _ = snakemake_error(workdir, "--configfile", "config.yaml", "bad-key.yaml", debug=True)
    assert "Failed validating 'additionalProperties'" in log and "\nerror: " not in log
    log, _ = snakemake_error(workdir, "results/no-such-output.txt")
    assert "MissingRuleException:\nNo rule to produce results/no-such-output.txt" in log
