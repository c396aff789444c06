"""The Batch API backend against a real local server of the Files and Batches endpoints
(tests/fault_server.py): partial failures, an expired batch, retries, and a run killed mid-poll."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fault_server import FaultServer, completion_for
from magicoder_repro.core.jsonl import read_jsonl
from magicoder_repro.data.requests import build_request, load_template, request_key
from openai.types.chat import ChatCompletion
from test_generate import TEMPLATE, env, generate_cmd, run, teacher_config, write_seeds


def batch_cmd(tmp, seeds, teacher, **batch):
    return generate_cmd(tmp, seeds, teacher, "out") + ["--batch", json.dumps({"enabled": True, "poll_interval_s": 0.05, **batch})]


def assert_every_seed_answered(tmp, seeds, teacher):
    """The responses are the server's answers to exactly the requests the chat backend would send,
    stored as the chat backend stores them (the client's model of a completion, dumped)."""
    template = load_template(TEMPLATE)
    rows = read_jsonl(tmp / "out.responses.jsonl")
    assert len(rows) == len(read_jsonl(seeds))
    for row, seed in zip(rows, read_jsonl(seeds)):
        request = build_request(seed["seed"], seed["index"], teacher, template)
        assert row["request_key"] == request_key(request)
        assert row["response"] == ChatCompletion.construct(**completion_for(request)).model_dump(mode="json")


def test_partial_failures_and_an_expired_batch_are_retried_in_new_batches(tmp_path):
    seeds = write_seeds(tmp_path / "seeds.jsonl", 6)
    faults = lambda request: {0: ["500"], 1: ["expired", "500"]}.get(request["seed"] % 3, [])
    with FaultServer(batch_faults=faults, batch_polls=2) as server:
        teacher = teacher_config(base_url=server.base_url)
        proc = run(batch_cmd(tmp_path, seeds, teacher), MAGICODER_TEST_KEY="k")
        assert proc.returncode == 0, proc.stderr[-3000:]
        api = server.batch_api
        assert [b["status"] for b in api.batches.values()] == ["expired", "completed", "completed"]
        assert api.calls["create"] == 3 and not server.attempts, "a chat request was sent"
        template = load_template(TEMPLATE)
        requests = [build_request(s["seed"], s["index"], teacher, template) for s in read_jsonl(seeds)]
        # Batches a request was in: 2 after a 500, 3 after an expiry and a 500, else 1.
        assert dict(api.attempts) == {request_key(r): {0: 2, 1: 3, 2: 1}[r["seed"] % 3] for r in requests}
    assert_every_seed_answered(tmp_path, seeds, teacher)
    ledger = json.loads((tmp_path / "out.ledger.json").read_text())
    assert ledger["requests_sent"] == 6 and ledger["batch_api"] == {"batch_answered": 6, "batch_failed": 6, "batch_submitted": 12}
    cache = tmp_path / "cache" / "teacher"
    assert sorted(p.name for p in cache.iterdir()) == ["batch.jsonl", "batches"] and not list((cache / "batches").glob("*.json"))


def test_failures_go_to_the_chat_api_or_stop_the_run_as_configured(tmp_path):
    seeds = write_seeds(tmp_path / "seeds.jsonl", 4)
    failing = lambda request: ["500"] * 5 if request["seed"] % 2 else []
    with FaultServer(batch_faults=failing) as server:
        teacher = teacher_config(base_url=server.base_url)
        proc = run(batch_cmd(tmp_path, seeds, teacher, retry="none"), MAGICODER_TEST_KEY="k")
        assert proc.returncode == 1
        lines = [line for line in proc.stderr.splitlines() if "error:" in line]
        assert len(lines) == 1 and "2 requests failed after all retries" in lines[0], proc.stderr[-2000:]
        assert server.batch_api.calls["create"] == 1 and not server.attempts

        proc = run(batch_cmd(tmp_path, seeds, teacher, retry="chat"), MAGICODER_TEST_KEY="k")
        assert proc.returncode == 0, proc.stderr[-3000:]
        failed = {k for k, n in server.batch_api.attempts.items() if n == 2}
        assert len(failed) == 2 and set(server.attempts) == failed, "the chat API got other than the failed requests"
        assert server.batch_api.calls["create"] == 2   # the rerun batched only the two unanswered
    assert_every_seed_answered(tmp_path, seeds, teacher)


def test_a_run_killed_mid_poll_resumes_the_recorded_batches_and_pays_nothing_twice(tmp_path):
    seeds = write_seeds(tmp_path / "seeds.jsonl", 6)
    records = tmp_path / "cache" / "teacher" / "batches"
    with FaultServer() as server:
        teacher = teacher_config(base_url=server.base_url)
        api = server.batch_api
        api.hold.set()
        proc = subprocess.Popen(batch_cmd(tmp_path, seeds, teacher, max_requests=3), env=env(MAGICODER_TEST_KEY="k"),
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while api.calls["retrieve"] < 4:
            assert time.monotonic() < deadline and proc.poll() is None, "the batches were not polled"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        saved = [json.loads(p.read_text()) for p in sorted(records.glob("*.json"))]
        batch_ids = {r["id"]: r["batch_id"] for r in saved}
        assert api.calls["create"] == 2 and sorted(batch_ids.values()) == ["batch_0", "batch_1"]
        # As if the other batch had been submitted but the kill came before its id was recorded.
        lost = saved[0]
        del lost["batch_id"]
        (records / f"{lost['id']}.json").write_text(json.dumps(lost))

        api.hold.clear()
        proc = run(batch_cmd(tmp_path, seeds, teacher, max_requests=3), MAGICODER_TEST_KEY="k")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert api.calls["upload"] == 2 and api.calls["create"] == 2, "paid work was submitted again"
        assert set(api.attempts.values()) == {1} and len(api.attempts) == 6 and not server.attempts
    assert_every_seed_answered(tmp_path, seeds, teacher)
    assert sorted(p.name for p in (records / "done").glob("*.json")) == sorted(f"{i}.{b}.json" for i, b in batch_ids.items())
