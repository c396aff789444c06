"""The transformers backend: every engine gives plain `generate`'s greedy tokens on a model with real
margins, a killed job resumes from what it wrote, prompts are tokenised as the original evaluation did for
each tokenizer family, and missing checkpoints are named clearly."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from magicoder_repro.evaluate import generate as eval_generate

from magicoder_repro.train import tiny_model

from magicoder_repro.core import prompt_format

REPO = Path(__file__).resolve().parents[1]
HUMANEVAL = "data/benchmarks/evalplus/HumanEvalPlus-v0.1.10.jsonl.gz"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    texts = ["def add(a, b):\n    return a + b\n", "for i in range(10):\n    print(i)\n"] * 20
    return tiny_model.build(tmp_path_factory.mktemp("tiny") / "m", texts, vocab_size=300)


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory):
    """A tiny Llama trained for 200 steps on the demo corpus: random weights tie their top logits (issue 18),
    a trained model has real margins, so equal greedy tokens mean equal computation."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    texts = tiny_model.corpus_texts(sorted((REPO / "data/demo/corpus").glob("*.jsonl")))
    out = tiny_model.build(tmp_path_factory.mktemp("trained") / "m", texts, vocab_size=512, hidden_size=64)
    tok, model = AutoTokenizer.from_pretrained(out), AutoModelForCausalLM.from_pretrained(out)
    stream = torch.tensor([i for t in texts for i in tok(t)["input_ids"] + [tok.eos_token_id]])
    chunks = stream[: len(stream) // 64 * 64].view(-1, 64)
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(200):
        batch = chunks[torch.randint(len(chunks), (8,))]
        model(input_ids=batch, labels=batch).loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(out)
    return out


def humaneval_ids(tok, count):
    from magicoder_repro.evaluate import benchmarks as eval_benchmarks

    tasks = eval_benchmarks.load_tasks({"benchmark": "humaneval", "kind": "humaneval", "dataset": HUMANEVAL, "limit": count})
    return prompt_format.eval_input_ids(tok, [t["prompt"] for t in tasks], "humaneval")


def test_every_engine_equals_plain_greedy_on_a_trained_model(trained_dir):
    import torch

    model, tok = eval_generate.load_transformers(str(trained_dir))
    prompts = humaneval_ids(tok, 16)
    settings = {"max_new_tokens": 24, "temperature": 0}
    reference = eval_generate.generate_ids(model, prompts, settings, "plain", tok.pad_token_id, batch_size=1, ignore_eos=True)
    # Real margins: the gap between the two best logits at every greedy step of the reference.
    gaps = []
    for p, (new,) in zip(prompts, reference):
        logits = model(torch.tensor([p + new[:-1]])).logits[0, len(p) - 1:]
        top2 = logits.topk(2).values
        gaps += (top2[:, 0] - top2[:, 1]).tolist()
    assert sum(g < 1e-3 for g in gaps) < 0.02 * len(gaps) and len({tuple(s[0]) for s in reference}) > 10
    for engine, batch in (("plain", 16), ("static", 1), ("static", 16)):
        out = eval_generate.generate_ids(model, prompts, settings, engine, tok.pad_token_id, batch_size=batch, ignore_eos=True)
        assert out == reference, (engine, batch)
    # n samples a prompt are n rows; a seed makes them reproducible, in any engine.
    sampling = {**settings, "temperature": 0.8, "top_p": 0.95, "n": 3, "seed": 1}
    sampled = eval_generate.generate_ids(model, prompts[:2], sampling, "static", tok.pad_token_id, batch_size=4)
    assert [len(s) for s in sampled] == [3, 3] and len({tuple(x) for s in sampled for x in s}) > 1
    assert sampled == eval_generate.generate_ids(model, prompts[:2], sampling, "static", tok.pad_token_id, batch_size=4)


def test_each_prompt_is_prefilled_once_for_its_samples(trained_dir, monkeypatch):
    """Sharing a prompt's prefill among its samples changes no token: the same rows prefilled one copy each
    give the same samples, greedy and sampled (per-sample noise keys)."""
    from magicoder_repro.evaluate import decode_engine

    monkeypatch.setenv("EVAL_DECODE_OPTIONS", '{"prefill_tokens": 1, "window": 8}')  # a chunk a prompt, many windows
    model, tok = eval_generate.load_transformers(str(trained_dir))
    prompts = humaneval_ids(tok, 3)
    sources = [0, 0, 0, 1, 1, 2]
    keys = [decode_engine.sample_key(1, i, k) for k, i in enumerate(sources)]
    length = max(map(len, prompts)) + 16
    for settings in ({"max_new_tokens": 16, "temperature": 0}, {"max_new_tokens": 16, "temperature": 0.8, "top_p": 0.95}):
        shared = decode_engine.DecodeEngine(model, 7, length, tok.pad_token_id, [])
        copies = decode_engine.DecodeEngine(model, 6, length, tok.pad_token_id, [])
        out = shared.generate(prompts, sources, keys, settings)
        assert out == copies.generate([prompts[i] for i in sources], list(range(6)), keys, settings)
        assert shared.stats["prefill_tokens"] == sum(map(len, prompts))
        assert copies.stats["prefill_tokens"] == sum(len(prompts[i]) for i in sources)
        assert len({tuple(s) for s in out[:3]}) == (1 if settings["temperature"] == 0 else 3)
    # A sample is the same whatever its batch, and a job resumed with some samples done draws the rest alike.
    sampling = {"max_new_tokens": 12, "temperature": 0.8, "top_p": 0.95, "n": 3, "seed": 5}
    whole = eval_generate.generate_ids(model, prompts, sampling, "static", tok.pad_token_id, batch_size=4)
    done = {(0, 1), (2, 0)}
    rest = eval_generate.generate_batches(model, prompts, sampling, "static", tok.pad_token_id, 5, done=done, log=print)
    resumed = {pair: s for pairs, out in rest for pair, s in zip(pairs, out)}
    assert set(resumed) == {(i, k) for i in range(3) for k in range(3)} - done
    assert all(whole[i][k] == s for (i, k), s in resumed.items())


def test_nucleus_keeps_what_top_p_keeps():
    """The top-k-first nucleus keeps the tokens transformers' TopPLogitsWarper keeps, falls back to the full
    sort where the nucleus is larger than the candidates, and draws each kept token at its renormalised
    probability."""
    import torch
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

    from magicoder_repro.evaluate import decode_engine

    torch.manual_seed(0)
    x = torch.randn(64, 2000) * torch.logspace(-1, 1.2, 64)[:, None]  # flat rows to peaked ones
    for temperature, top_p in ((0.2, 0.95), (0.2, 0.5), (1.0, 0.9)):
        want = TopPLogitsWarper(top_p)(None, TemperatureLogitsWarper(temperature)(None, x.clone())).isfinite()
        for k in (64, 2000):
            _, ids, keep, complete = decode_engine.nucleus(x / temperature, top_p, k)
            got = torch.zeros_like(want).scatter(1, ids, keep)
            assert (got == want)[complete].all()
        assert complete.all()
    assert not decode_engine.nucleus(x, 0.95, 64)[3].all()  # flat rows need the fallback
    probs = torch.tensor([0.5, 0.3, 0.15, 0.04, 0.01])
    keys = decode_engine.sample_key(0, torch.arange(20000), 0)
    tokens, fallback = decode_engine.pick(probs.log().expand(20000, 5), {"temperature": 1.0, "top_p": 0.9}, keys, 0, 2)
    assert fallback == 20000  # two candidates hold 0.8 < 0.9 of the mass
    freq = torch.bincount(tokens, minlength=5) / 20000
    assert (freq - torch.tensor([0.5, 0.3, 0.15, 0, 0]) / 0.95).abs().max() < 0.01


def test_weights_read_straight_onto_the_device_equal_from_pretrained(model_dir):
    """The GPU's loader (safetensors shards onto the device, no from_pretrained), run here on the CPU."""
    import torch
    from transformers import AutoModelForCausalLM

    direct = eval_generate.load_direct(str(model_dir), torch.float32, "cpu")
    reference = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ids = torch.tensor([[1, 5, 7, 9, 11]])
    assert torch.equal(direct(ids).logits, reference(ids).logits)
    assert direct.generation_config.eos_token_id == reference.generation_config.eos_token_id


def test_auto_backend_is_vllm_where_installed(monkeypatch):
    monkeypatch.setattr(eval_generate, "vllm_available", lambda: False)  # vLLM does not install here
    assert eval_generate.pick_backend("auto") == "transformers"
    monkeypatch.setattr(eval_generate, "vllm_available", lambda: True)
    assert [eval_generate.pick_backend(b) for b in ("auto", "transformers", "openai")] == ["vllm", "transformers", "openai"]
    with pytest.raises(SystemExit, match="unknown backend 'tgi'"):
        eval_generate.pick_backend("tgi")


def job_config(model_path):
    model = {"backend": "transformers", "path": str(model_path), "engine": "plain", "batch_size": 2}
    bench = {"benchmark": "humaneval", "kind": "humaneval", "dataset": HUMANEVAL, "limit": 10, "max_new_tokens": 32,
             "temperature": 0.0, "n": 1}
    return model, bench


def job_argv(model_path, out):
    """The rule's command line."""
    model, bench = job_config(model_path)
    return ["--model", json.dumps(model), "--benchmark", json.dumps(bench), "--out", str(out)]


@pytest.mark.slow
def test_a_killed_job_resumes_from_the_samples_it_wrote(trained_dir, tmp_path, capsys):
    out, partial = tmp_path / "humaneval.samples.jsonl", tmp_path / "humaneval.samples.jsonl.partial"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "scripts")}
    job = subprocess.Popen([sys.executable, "-m", "magicoder_repro.evaluate.generate", *job_argv(trained_dir, out)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while job.poll() is None and (not partial.exists() or len(partial.read_text().splitlines()) < 5):
        time.sleep(0.01)
    job.send_signal(signal.SIGKILL)
    job.wait()
    written = partial.read_text().splitlines()[1:]
    assert not out.exists() and 4 <= len(written) < 10
    eval_generate.main(job_argv(trained_dir, out))  # the rerun (in this process, to save an interpreter start)
    assert f"resuming: {len(written)} samples already in" in capsys.readouterr().out and not partial.exists()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    uninterrupted, _ = eval_generate.generate_samples(*job_config(trained_dir))
    assert records == uninterrupted and [r["task_id"] for r in records] == [f"HumanEval/{i}" for i in range(10)]
    assert {r["engine"] for r in records} == {"transformers-plain"}


def family_tokenizer(style):
    """Tiny tokenizers laid out like the three families: DeepSeek-Coder (byte-level BPE, BOS added),
    CodeLlama (SentencePiece-style Metaspace, `<s>` added), StarCoder (byte-level, bos = eos =
    `<|endoftext|>`, nothing added)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bos, eos = {"deepseek": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"), "codellama": ("<s>", "</s>"),
                "starcoder": ("<|endoftext|>", "<|endoftext|>")}[style]
    tok = Tokenizer(models.BPE())
    if style == "codellama":
        tok.pre_tokenizer, tok.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    else:
        tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet() if style != "codellama" else []
    tok.train_from_iterator(["def add(a, b):\n    return a + b\n"] * 5, trainers.BpeTrainer(
        vocab_size=300, special_tokens=sorted({bos, eos}), initial_alphabet=alphabet))
    if style != "starcoder":
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, tok.token_to_id(bos))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos)


@pytest.mark.parametrize("style", ["deepseek", "codellama", "starcoder"])
def test_prompts_are_tokenised_as_the_original_evaluation_did(style):
    tok = family_tokenizer(style)
    text = "def add(a, b):"
    body = tok(text, add_special_tokens=False)["input_ids"]
    bos = tok.convert_tokens_to_ids(tok.bos_token)
    for kind in ("humaneval", "mbpp", "ds1000"):  # Magicoder's scripts: BOS id prepended whenever there is one
        assert prompt_format.eval_input_ids(tok, [text], kind) == [[bos] + body]
    # bigcode-evaluation-harness: the tokenizer's own special tokens (StarCoder: none)
    assert prompt_format.eval_input_ids(tok, [text], "multipl-e") == [body if style == "starcoder" else [bos] + body]
    tok.bos_token = None  # a tokenizer without BOS: nothing is prepended, never None
    assert prompt_format.eval_input_ids(tok, [text], "humaneval") == [body]


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
    import urllib.request

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
        records, _ = eval_generate.generate_samples(model, bench)
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
