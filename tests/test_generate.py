"""Generation against a real HTTP server that misbehaves (tests/fault_server.py), a killed run, and
the errors a user must see before anything is sent."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fault_server import FaultServer, completion_for, cycling_faults  # noqa: E402

from magicoder_repro.core.jsonl import read_jsonl, write_jsonl
from magicoder_repro.data.requests import build_request, load_template, request_key
from magicoder_repro.data.teacher_cache import ResponseCache, read_answers

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "prompts" / "oss_instruct.txt"


def teacher_config(**overrides) -> dict:
    teacher = {
        "backend": "openai", "model": "gpt-3.5-turbo-1106", "base_url": None, "api_key_env": "MAGICODER_TEST_KEY",
        "system_prompt": "You are exceptionally skilled at crafting high-quality programming problems and offering precise solutions.",
        "prompt_template": str(TEMPLATE), "temperature": 0.0, "seed_offset": 976, "max_tokens": 2500,
        "context_window": 8192, "token_counter": None, "price_per_million_tokens": {"input": 1.0, "output": 2.0},
    }
    return {**teacher, **overrides}


def write_seeds(path: Path, n: int, lang="python") -> Path:
    write_jsonl(path, [
        {"lang": lang, "index": i, "raw_index": 1000 + i, "seed": f"def f{i}(x):\n    return x * {i}\n",
         "source": "test", "doc_id": str(i), "start_line": 0, "end_line": 2}
        for i in range(n)
    ])
    return path


def generate_cmd(tmp: Path, seeds: Path, teacher: dict, out: str, concurrency=8, timeout_s=1.0, max_retries=4,
                 template=TEMPLATE):
    return [sys.executable, "-m", "magicoder_repro.data.generate", "--seeds", str(seeds), "--teacher", json.dumps(teacher),
            "--template", str(template), "--cache", str(tmp / "cache" / "teacher"),
            "--responses", str(tmp / f"{out}.responses.jsonl"), "--ledger", str(tmp / f"{out}.ledger.json"),
            "--concurrency", str(concurrency), "--max-retries", str(max_retries), "--timeout-s", str(timeout_s)]


def env(**extra):
    return {**os.environ, "PYTHONPATH": str(REPO / "scripts"), "OMP_NUM_THREADS": "1", **extra}


def run(cmd, **extra_env):
    return subprocess.run(cmd, env=env(**extra_env), capture_output=True, text=True, timeout=120)


def test_faults_are_retried_and_no_completed_request_is_sent_twice(tmp_path):
    seeds = write_seeds(tmp_path / "seeds.jsonl", 24)
    with FaultServer(faults=cycling_faults, slow_s=2.5) as server:
        teacher = teacher_config(base_url=server.base_url)
        proc = run(generate_cmd(tmp_path, seeds, teacher, "a"), MAGICODER_TEST_KEY="k")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert set(server.outcomes) == {"ok", "429", "500", "slow", "truncated", "cut", "nochoices"}
        assert len(server.completed) == 24 and max(server.completed.values()) == 1

        rows = read_jsonl(tmp_path / "a.responses.jsonl")
        assert [r["index"] for r in rows] == list(range(24))
        template = load_template(TEMPLATE)
        for row in rows:
            request = build_request(row["seed"], row["index"], teacher, template)
            assert row["request_key"] == request_key(request)
            assert row["response"]["choices"][0]["message"]["content"] == completion_for(request)["choices"][0]["message"]["content"]
            assert row["response"]["system_fingerprint"] == "fp_fault_server"
        ledger = json.loads((tmp_path / "a.ledger.json").read_text())
        assert ledger["requests_sent"] == 24 and ledger["cache_hits"] == 0
        # The client may also count an attempt that died on a connection the server had already closed.
        assert ledger["http_attempts"] >= sum(server.attempts.values())
        assert ledger["retries"] == ledger["http_attempts"] - 24
        assert ledger["errors_by_type"]["http_429"] == server.outcomes["429"]
        assert ledger["errors_by_type"]["http_500"] == server.outcomes["500"]
        assert ledger["errors_by_type"]["invalid_body"] == server.outcomes["truncated"] + server.outcomes["nochoices"]
        assert ledger["system_fingerprints"] == {"fp_fault_server": 24}
        usage = ledger["usage_all_answers"]
        served = [completion_for(build_request(r["seed"], r["index"], teacher, template))["usage"] for r in rows]
        assert usage["prompt_tokens"] == sum(u["prompt_tokens"] for u in served)
        assert usage["completion_tokens"] == sum(u["completion_tokens"] for u in served)
        assert ledger["usage_this_run"] == usage
        assert usage["cost_usd"] == pytest.approx((usage["prompt_tokens"] * 1.0 + usage["completion_tokens"] * 2.0) / 1e6)

        # A rerun is answered entirely by the cache: nothing is sent, and the output is the same bytes.
        attempts_before = sum(server.attempts.values())
        proc = run(generate_cmd(tmp_path, seeds, teacher, "b"), MAGICODER_TEST_KEY="k")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert sum(server.attempts.values()) == attempts_before
        assert (tmp_path / "a.responses.jsonl").read_bytes() == (tmp_path / "b.responses.jsonl").read_bytes()
        assert json.loads((tmp_path / "b.ledger.json").read_text())["cache_hits"] == 24


def test_kill_9_mid_run_then_rerun_gives_the_uninterrupted_output(tmp_path):
    seeds = write_seeds(tmp_path / "seeds.jsonl", 40)
    with FaultServer(latency_s=0.25) as server:
        teacher = teacher_config(base_url=server.base_url)
        ref = tmp_path / "ref"
        ref.mkdir()
        assert run(generate_cmd(ref, seeds, teacher, "out", concurrency=4), MAGICODER_TEST_KEY="k").returncode == 0

    with FaultServer(latency_s=0.25) as server:
        teacher = teacher_config(base_url=server.base_url)
        cache_file = tmp_path / "cache" / "teacher" / "responses.jsonl"
        proc = subprocess.Popen(generate_cmd(tmp_path, seeds, teacher, "out", concurrency=4),
                                env=env(MAGICODER_TEST_KEY="k"), stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not (cache_file.exists() and cache_file.read_bytes().count(b"\n") >= 10):
            assert time.monotonic() < deadline and proc.poll() is None, "generation did not get going"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        cached = set(read_answers([cache_file])[0])
        assert 10 <= len(cached) < 40
        sent_first = dict(server.attempts)

        proc = run(generate_cmd(tmp_path, seeds, teacher, "out", concurrency=4), MAGICODER_TEST_KEY="k")
        assert proc.returncode == 0, proc.stderr[-3000:]
        resent = {k for k, n in server.attempts.items() if n > sent_first.get(k, 0) and k in sent_first}
        assert not resent & cached, "a request whose answer was saved was sent again"
        assert len(resent) <= 4, "more than the requests in flight were lost"
        assert (tmp_path / "out.responses.jsonl").read_bytes() == (ref / "out.responses.jsonl").read_bytes()


def test_permanent_failures_finish_the_rest_exit_nonzero_and_rerun_only_those(tmp_path):
    seeds = write_seeds(tmp_path / "seeds.jsonl", 6)
    failing = lambda request: ["500"] * 3 if request["seed"] % 3 == 0 else []  # noqa: E731
    with FaultServer(faults=failing) as server:
        teacher = teacher_config(base_url=server.base_url)
        proc = run(generate_cmd(tmp_path, seeds, teacher, "out", max_retries=1), MAGICODER_TEST_KEY="k")
        assert proc.returncode == 1
        assert "2 requests failed after all retries" in proc.stderr
        assert "python seed index 2:" in proc.stderr and "python seed index 5:" in proc.stderr   # 978, 981: multiples of 3
        assert not (tmp_path / "out.responses.jsonl").exists()
        assert len(server.completed) == 4

        proc = run(generate_cmd(tmp_path, seeds, teacher, "out", max_retries=1), MAGICODER_TEST_KEY="k")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert len(server.completed) == 6 and max(server.completed.values()) == 1
        assert len(read_jsonl(tmp_path / "out.responses.jsonl")) == 6


def error_line(proc) -> str:
    """The job's error: one line, the last on stderr, and no traceback."""
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("data.generate: error: "), proc.stderr[-3000:]
    return last


@pytest.mark.parametrize("status", ["401", "403", "404"])
def test_a_rejected_key_or_unknown_model_stops_after_one_request(tmp_path, status):
    seeds = write_seeds(tmp_path / "seeds.jsonl", 40)
    with FaultServer(faults=lambda request: [status] * 9) as server:
        teacher = teacher_config(base_url=server.base_url)
        line = error_line(run(generate_cmd(tmp_path, seeds, teacher, "out"), MAGICODER_TEST_KEY="k"))
        assert sum(server.attempts.values()) == 1, "the preflight's answer is final: nothing else is sent"
    assert f"teacher {server.base_url} (teacher.model 'gpt-3.5-turbo-1106', key from $MAGICODER_TEST_KEY)" in line
    assert f"HTTP {status}" in line
    assert ("teacher.model" in line.split(";")[-1]) == (status == "404")
    assert not (tmp_path / "out.responses.jsonl").exists()


def test_a_refused_base_url_stops_at_the_preflight_and_debug_shows_the_traceback(tmp_path):
    seeds = write_seeds(tmp_path / "seeds.jsonl", 40)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
    teacher = teacher_config(base_url=url)
    line = error_line(run(generate_cmd(tmp_path, seeds, teacher, "out"), MAGICODER_TEST_KEY="k"))
    assert line.startswith(f"data.generate: error: cannot connect to teacher {url} (teacher.model 'gpt-3.5-turbo-1106', "
                           "key from $MAGICODER_TEST_KEY): ConnectError")
    assert line.endswith("check teacher.base_url and that the server is running")
    proc = run(generate_cmd(tmp_path, seeds, teacher, "out"), MAGICODER_TEST_KEY="k", MAGICODER_DEBUG="1")
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "GenerationError: cannot connect" in proc.stderr


def test_a_key_revoked_mid_run_stops_the_run_and_keeps_what_was_bought(tmp_path):
    seeds = write_seeds(tmp_path / "seeds.jsonl", 10)
    revoked = lambda request: ["401"] * 9 if request["seed"] >= 976 + 4 else []  # noqa: E731
    with FaultServer(faults=revoked) as server:
        teacher = teacher_config(base_url=server.base_url)
        line = error_line(run(generate_cmd(tmp_path, seeds, teacher, "out", concurrency=1), MAGICODER_TEST_KEY="k"))
        assert "refused the key (HTTP 401" in line
        assert sorted(server.attempts.values()) == [1] * 5, "one request at a time: nothing after the 401"
        bought = set(server.completed)
        assert len(bought) == 4

    with FaultServer() as server:
        proc = run(generate_cmd(tmp_path, seeds, teacher_config(base_url=server.base_url), "out"), MAGICODER_TEST_KEY="k")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert len(server.completed) == 6 and not set(server.attempts) & bought, "an answer bought before was asked again"
    ledger = json.loads((tmp_path / "out.ledger.json").read_text())
    assert ledger["cache_hits"] == 4 and ledger["requests_sent"] == 6


def test_a_wrong_shaped_cache_entry_is_reported_and_asked_again_or_refused(tmp_path):
    seeds = write_seeds(tmp_path / "seeds.jsonl", 3)
    with FaultServer() as server:
        teacher = teacher_config(base_url=server.base_url)
        assert run(generate_cmd(tmp_path, seeds, teacher, "out"), MAGICODER_TEST_KEY="k").returncode == 0
        cache_file = tmp_path / "cache" / "teacher" / "responses.jsonl"
        lines = cache_file.read_text().splitlines()
        broken = json.loads(lines[1])
        del broken["response"]["choices"]   # hand-edited, or written by another program
        lines[1] = json.dumps(broken)
        cache_file.write_text("\n".join(lines) + "\n")
        where = f"{cache_file}:2: the response has no choices (request key {broken['key'][:16]})"

        cmd = generate_cmd(tmp_path, seeds, teacher, "out") + ["--invalid-cache-entries", "error"]
        line = error_line(run(cmd, MAGICODER_TEST_KEY="k"))
        assert line == (f"data.generate: error: {where}; fix or delete that line, or set teacher.invalid_cache_entries: "
                        "rerequest to ask the teacher again (1 such answers)")
        assert sum(server.attempts.values()) == 3

        proc = run(generate_cmd(tmp_path, seeds, teacher, "out"), MAGICODER_TEST_KEY="k")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert f"{where}; asking the teacher again" in proc.stderr
        assert server.attempts[broken["key"]] == 2 and sum(server.attempts.values()) == 4

        # Every answer cached: no key is needed, and the broken line no longer matters.
        proc = run(generate_cmd(tmp_path, seeds, teacher, "again"))
        assert proc.returncode == 0 and "asking the teacher again" not in proc.stderr, proc.stderr[-3000:]
        assert (tmp_path / "again.responses.jsonl").read_bytes() == (tmp_path / "out.responses.jsonl").read_bytes()


def test_missing_api_key_fails_before_any_request(tmp_path):
    seeds = write_seeds(tmp_path / "seeds.jsonl", 3)
    with FaultServer() as server:
        teacher = teacher_config(base_url=server.base_url, api_key_env="MAGICODER_NO_SUCH_KEY")
        proc = run(generate_cmd(tmp_path, seeds, teacher, "out"))
        assert proc.returncode == 1
        assert "MAGICODER_NO_SUCH_KEY" in proc.stderr and "not set" in proc.stderr
        assert sum(server.attempts.values()) == 0


def test_replay_answers_from_the_recorded_file_and_names_a_missing_seed(tmp_path):
    seeds = write_seeds(tmp_path / "seeds.jsonl", 4)
    teacher = teacher_config(backend="replay", replay_file=str(tmp_path / "replay.jsonl"))
    template = load_template(TEMPLATE)
    recorded = ResponseCache(tmp_path / "rec")
    for record in read_jsonl(seeds)[:3]:
        request = build_request(record["seed"], record["index"], teacher, template)
        recorded.append(request_key(request), request, completion_for(request))
    recorded.close()
    (tmp_path / "rec" / "responses.jsonl").rename(tmp_path / "replay.jsonl")

    proc = run(generate_cmd(tmp_path, seeds, teacher, "out"))
    assert proc.returncode == 1
    assert "1 of 4 requests have no recorded answer" in proc.stderr
    assert "python seed index 3" in proc.stderr and "teacher.backend: openai" in proc.stderr

    write_seeds(seeds, 3)
    proc = run(generate_cmd(tmp_path, seeds, teacher, "out"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["response"]["id"] for r in read_jsonl(tmp_path / "out.responses.jsonl")] == [
        json.loads(line)["response"]["id"] for line in (tmp_path / "replay.jsonl").read_text().splitlines()]


def test_tiktoken_without_its_encoding_file_is_a_clear_error_not_a_hang(tmp_path):
    try:
        import tiktoken

        tiktoken.get_encoding("cl100k_base")
        pytest.skip("tiktoken's encoding is available here")
    except Exception:
        pass
    seeds = write_seeds(tmp_path / "seeds.jsonl", 2)
    teacher = teacher_config(backend="replay", replay_file=str(tmp_path / "none.jsonl"), token_counter="tiktoken")
    proc = run(generate_cmd(tmp_path, seeds, teacher, "out"), TIKTOKEN_CACHE_DIR=str(tmp_path / "empty"))
    assert proc.returncode == 1
    assert "cl100k_base encoding could not be loaded" in proc.stderr and "TIKTOKEN_CACHE_DIR" in proc.stderr


def answer(text: str) -> dict:
    return {"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}


def test_cache_tolerates_a_torn_line_and_repairs_it_on_append(tmp_path):
    cache = ResponseCache(tmp_path)
    cache.append("k1", {"a": 1}, answer("one"))
    with open(cache.path, "ab") as f:
        f.write(b'{"key": "k2", "request": {"a": 2}, "resp')   # what kill -9 mid-write leaves
    answers, unusable = cache.load({"k1", "k2"})
    assert answers == {"k1": answer("one")}
    assert [str(u) for u in unusable] == [f"{cache.path}:2: not a {{key, request, response}} JSON line (torn by a killed writer?)"]
    cache.append("k3", {"a": 3}, answer("three"))
    cache.close()
    assert cache.load({"k1", "k2", "k3"})[0] == {"k1": answer("one"), "k3": answer("three")}
    assert cache.path.read_bytes().count(b"\n") == 3
