"""The real HTTP teacher path: `transformers serve` on a tiny random-weight model this test builds."""
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from magicoder_repro.train import tiny_model
from magicoder_repro.core.jsonl import read_jsonl
from magicoder_repro.data.parse import parse
from test_generate import env, generate_cmd, run, teacher_config, write_seeds

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    texts = [f"def f{i}(x):\n    return x * {i}\n" for i in range(50)]
    model_dir = str(tiny_model.build(root / "model", texts, vocab_size=400, max_positions=1024))
    port = free_port()
    (root / "hub").mkdir()
    server_env = env(HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(root / "hub"))
    transformers_cli = Path(sys.executable).parent / "transformers"
    log = open(root / "serve.log", "w")
    proc = subprocess.Popen([str(transformers_cli), "serve", model_dir, "--device", "cpu", "--host", "127.0.0.1",
                             "--port", str(port)], env=server_env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (root / "serve.log").read_text()[-3000:]
                time.sleep(0.5)
        yield model_dir, f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_generate_against_transformers_serve(served_model, tmp_path):
    model_dir, base_url = served_model
    seeds = write_seeds(tmp_path / "seeds.jsonl", 3)
    template = tmp_path / "short_template.txt"   # a short prompt keeps CPU generation quick
    template.write_text("Write a [Problem Description] and a [Solution] inspired by:\n{code}")
    teacher = teacher_config(base_url=base_url, model=model_dir, max_tokens=8)
    proc = run(generate_cmd(tmp_path, seeds, teacher, "out", concurrency=3, timeout_s=60, max_retries=1,
                            template=template), MAGICODER_TEST_KEY="local")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_jsonl(tmp_path / "out.responses.jsonl")
    assert [r["index"] for r in rows] == [0, 1, 2]
    for row in rows:
        choice = row["response"]["choices"][0]
        assert choice["finish_reason"] in ("stop", "length") and isinstance(choice["message"]["content"], str)
        assert "system_fingerprint" in row["response"]
    ledger = json.loads((tmp_path / "out.ledger.json").read_text())
    assert ledger["requests_sent"] == 3 and ledger["usage_all_answers"]["completion_tokens"] > 0

    # Random weights never write the markers: every answer is dropped, each for a counted reason.
    stats = parse(tmp_path / "out.responses.jsonl", tmp_path / "records.jsonl", tmp_path / "stats.json")
    assert stats["responses"] == 3 and sum(stats["dropped"].values()) + stats["kept"] == 3

    # Answered requests come from the cache on a rerun: same bytes, nothing sent.
    proc = run(generate_cmd(tmp_path, seeds, teacher, "again", template=template), MAGICODER_TEST_KEY="local")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "again.ledger.json").read_text())["requests_sent"] == 0
    assert (tmp_path / "again.responses.jsonl").read_bytes() == (tmp_path / "out.responses.jsonl").read_bytes()
