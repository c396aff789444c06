"""Teacher-written tests are asked for through generation's machinery: the real openai client against a
local server that misbehaves (retries, response cache, ledger), and the replay backend, whose answers the
cache file of a live run provides."""
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fault_server import FaultServer  # noqa: E402

from magicoder_repro.core.jsonl import read_jsonl, write_jsonl
from magicoder_repro.data.requests import load_template, request_key
from magicoder_repro.plus.teacher_tests import request_for_tests

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "prompts" / "execution_tests.txt"
TEACHER = {"backend": "openai", "model": "gpt-3.5-turbo-1106", "base_url": None, "api_key_env": "MAGICODER_TEST_KEY",
           "system_prompt": "You are exceptionally skilled at crafting high-quality programming problems and offering precise solutions.",
           "temperature": 0.0, "seed_offset": 976, "max_tokens": 2500, "token_counter": None,
           "price_per_million_tokens": {"input": 1.0, "output": 2.0}}
RECORDS = [
    {"lang": "cpp", "index": 3, "raw_index": 30, "seed": "int f();", "problem": "Write `int twice(int x)`.",
     "solution": "```cpp\nint twice(int x) { return 2 * x; }\n```"},
    {"lang": "cpp", "index": 1, "raw_index": 10, "seed": "int g();", "problem": "Write `{lang}` literally.",
     "solution": "```cpp\nconst char* lang() { return \"{lang}\"; }\n```"},
]


def teacher_tests(tmp_path, teacher, out):
    cmd = [sys.executable, "-m", "magicoder_repro.plus.teacher_tests", "--records", str(tmp_path / "records.jsonl"),
           "--teacher", json.dumps(teacher), "--template", str(TEMPLATE), "--cache", str(tmp_path / "cache"),
           "--responses", str(tmp_path / f"{out}.jsonl"), "--ledger", str(tmp_path / f"{out}.ledger.json"),
           "--max-retries", "3", "--timeout-s", "5"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts"), "MAGICODER_TEST_KEY": "local", "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def test_requests_carry_problem_solution_and_the_languages_harness():
    request = request_for_tests(RECORDS[1], TEACHER, load_template(TEMPLATE))
    prompt = request["messages"][1]["content"]
    assert "in C++." in prompt and "Write `{lang}` literally." in prompt and 'return "{lang}";' in prompt
    assert "write your own int main() (a main in the solution is renamed)" in prompt
    assert request["seed"] == 976 + 1 and request["messages"][0]["content"] == TEACHER["system_prompt"]


def test_tests_are_asked_with_retries_cached_and_replayed(tmp_path):
    write_jsonl(tmp_path / "records.jsonl", RECORDS)
    with FaultServer(faults=lambda request: ["429", "500"] if request["seed"] == 976 + 3 else []) as server:
        proc = teacher_tests(tmp_path, {**TEACHER, "base_url": server.base_url}, "live")
        assert proc.returncode == 0, proc.stderr
        assert server.outcomes == {"429": 1, "500": 1, "ok": 2}
    rows = read_jsonl(tmp_path / "live.jsonl")
    assert [(r["lang"], r["index"]) for r in rows] == [("cpp", 1), ("cpp", 3)]  # index order
    ledger = json.loads((tmp_path / "live.ledger.json").read_text())
    assert ledger["answered"] == 2 and ledger["requests_sent"] == 2 and ledger["retries"] == 2

    # The cache answers a rerun without the server, and as a replay file gives the same bytes.
    proc = teacher_tests(tmp_path, {**TEACHER, "base_url": "http://127.0.0.1:9/v1"}, "cached")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "cached.ledger.json").read_text())["cache_hits"] == 2
    replay = {**TEACHER, "backend": "replay", "replay_file": str(tmp_path / "cache" / "responses.jsonl")}
    assert teacher_tests(tmp_path, replay, "replayed").returncode == 0
    assert (tmp_path / "replayed.jsonl").read_bytes() == (tmp_path / "live.jsonl").read_bytes()


def test_replay_without_a_recorded_answer_names_the_record(tmp_path):
    write_jsonl(tmp_path / "records.jsonl", RECORDS)
    request = request_for_tests(RECORDS[1], TEACHER, load_template(TEMPLATE))
    write_jsonl(tmp_path / "recorded.jsonl", [{"key": request_key(request), "request": request, "response": {
        "choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": "```cpp\nint main() {}\n```"}}]}}])
    proc = teacher_tests(tmp_path, {**TEACHER, "backend": "replay", "replay_file": str(tmp_path / "recorded.jsonl")}, "out")
    assert proc.returncode == 1
    assert "1 of 2 requests have no recorded answer" in proc.stderr and "cpp seed index 3" in proc.stderr
    assert not (tmp_path / "out.jsonl").exists()
