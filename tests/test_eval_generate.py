"""The transformers backend: batched, left-padded generation gives what one prompt at a time gives;
missing checkpoints are named clearly."""
import pytest

from magicoder_repro import eval_generate, tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    texts = ["def add(a, b):\n    return a + b\n", "for i in range(10):\n    print(i)\n"] * 20
    return tiny_model.build(tmp_path_factory.mktemp("tiny") / "m", texts, vocab_size=300)


def test_batched_left_padded_equals_one_at_a_time(model_dir):
    model, tok = eval_generate.load_transformers(str(model_dir))
    prompts = [tok(t)["input_ids"] for t in ["def add(a, b):", "for i in range(10):\n    print(i)\n# x", "d"]]
    settings = {"max_new_tokens": 12, "temperature": 0}
    batched = eval_generate.generate_ids(model, prompts, settings, "plain", tok.pad_token_id, batch_size=3, ignore_eos=True)
    single = eval_generate.generate_ids(model, prompts, settings, "plain", tok.pad_token_id, batch_size=1, ignore_eos=True)
    assert batched == single and all(len(s[0]) == 12 for s in batched)
    sampled = eval_generate.generate_ids(model, prompts[:1], {**settings, "temperature": 0.8, "n": 3, "seed": 1},
                                         "plain", tok.pad_token_id)
    assert len(sampled[0]) == 3


def test_missing_checkpoint(tmp_path):
    with pytest.raises(eval_generate.MissingCheckpoint, match="no such checkpoint directory"):
        eval_generate.resolve_model(str(tmp_path / "stage9"))
    (tmp_path / "half").mkdir()
    with pytest.raises(eval_generate.MissingCheckpoint, match="no config.json"):
        eval_generate.resolve_model(str(tmp_path / "half"))
    assert eval_generate.resolve_model("deepseek-ai/deepseek-coder-6.7b-base") == "deepseek-ai/deepseek-coder-6.7b-base"


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_openai_backend_against_a_local_server(model_dir, tmp_path):
    """A served model (here the tiny one, through `transformers serve`) is evaluated like the teacher would be."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "OMP_NUM_THREADS": "1"}
    (tmp_path / "hub").mkdir()
    server = subprocess.Popen([str(Path(sys.executable).parent / "transformers"), "serve", str(model_dir), "--device", "cpu",
                               "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        model = {"backend": "openai", "model": str(model_dir), "base_url": f"http://127.0.0.1:{port}/v1",
                 "api_key_env": "NO_SUCH_KEY_VAR"}
        bench = {"benchmark": "humaneval", "kind": "humaneval", "max_new_tokens": 8, "temperature": 0.0, "n": 1,
                 "limit": 2, "dataset": "data/benchmarks/evalplus/HumanEvalPlus-v0.1.10.jsonl.gz"}
        records = eval_generate.generate_samples(model, bench)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert [r["task_id"] for r in records] == ["HumanEval/0", "HumanEval/1"]
    # The served model got the bare instruction (a chat request), not the pre-filled Magicoder prompt.
    assert all(r["prompt"].startswith("Write a solution to the following problem:") for r in records)
    assert all(isinstance(r["raw"], str) and r["raw"] for r in records)


def test_openai_backend_needs_its_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(SystemExit, match="OPENAI_API_KEY is not set"):
        eval_generate.generate_openai("gpt-3.5-turbo-1106", ["hi"], {"max_new_tokens": 4}, {"base_url": None}, [True])
