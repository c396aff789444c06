"""Instruction tuning: the original masking token by token (with and without a BOS token), equal loss
of both batch layouts, clear errors before training, and resume after SIGTERM or SIGUSR1 giving the
weights of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from magicoder_repro.core.prompt_format import prompt
from magicoder_repro.train.sft_data import IGNORE_INDEX, PaddedCollator, encode, encode_records, packed_collator
from magicoder_repro.train.tiny_model import build, corpus_texts
from magicoder_repro.train.train import check_batch, precision_policy, train

REPO = Path(__file__).resolve().parents[1]
CORPUS = sorted((REPO / "data/demo/corpus").glob("*.jsonl")) or sorted((REPO / "scripts/magicoder_repro").glob("*.py"))
RECORDS = [
    {"instruction": "Write a solution to the following coding problem:\nReverse a list in place.",
     "response": "```python\ndef rev(xs):\n    xs.reverse()\n```"},
    {"instruction": "Sum the squares of 1..n.", "response": "def f(n):\n    return sum(i * i for i in range(1, n + 1))"},
    {"instruction": "Say hi", "response": "print('hi')  # ünïcode ✓"},
    {"instruction": "Parse ints from a CSV line.", "response": "def p(s):\n    return [int(x) for x in s.split(',')]"},
]
SETTINGS = {
    "seed": 42, "precision": "auto", "attention": "auto", "packing": "auto", "optimizer": "adafactor",
    "compile": "auto", "lr_scheduler": "linear", "warmup_steps": 2, "max_grad_norm": 0, "gradient_checkpointing": False,
    "save_steps": 3, "save_total_limit": 2, "epochs": 2, "learning_rate": 1e-3, "max_length": 256,
    "global_batch_size": 2, "per_device_batch_size": 1, "gradient_accumulation_steps": 2,
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "model"
    build(out, corpus_texts(CORPUS), vocab_size=512, hidden_size=32, layers=2, heads=2, max_positions=512)
    return out


@pytest.fixture(scope="module")
def tokenizer(tiny):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny)


def write_records(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_labels_mask_the_prompt_token_by_token(tokenizer):
    for r in RECORDS:
        text_prompt = prompt(r["instruction"])
        assert text_prompt.endswith("@@ Response\n")
        # Independently: the tokenizer's own BOS post-processor for the prompt, EOS appended by hand.
        expected_prompt = tokenizer(text_prompt)["input_ids"]
        expected_response = tokenizer.encode(r["response"], add_special_tokens=False) + [tokenizer.eos_token_id]
        assert expected_prompt[0] == tokenizer.bos_token_id
        ex = encode(tokenizer, r["instruction"], r["response"], max_length=10_000)
        assert ex["input_ids"] == expected_prompt + expected_response
        assert len(ex["labels"]) == len(ex["input_ids"])
        for i, (tok, lab) in enumerate(zip(ex["input_ids"], ex["labels"])):
            assert lab == (IGNORE_INDEX if i < len(expected_prompt) else tok), f"position {i}"
        assert tokenizer.decode(ex["input_ids"][len(expected_prompt):]) == r["response"] + tokenizer.eos_token
        # Truncation cuts both lists at the same place, EOS goes first.
        cut = len(expected_prompt) + 3
        short = encode(tokenizer, r["instruction"], r["response"], max_length=cut)
        assert short["input_ids"] == ex["input_ids"][:cut] and short["labels"] == ex["labels"][:cut]
        assert tokenizer.eos_token_id not in short["labels"]


def test_a_tokenizer_without_bos_trains_without_one(tmp_path, tiny, tokenizer):
    import shutil

    from transformers import AutoTokenizer

    model = tmp_path / "no-bos"
    shutil.copytree(tiny, model)
    tokenizer.save_pretrained(model)
    no_bos = AutoTokenizer.from_pretrained(model)
    no_bos.bos_token = None
    no_bos.save_pretrained(model)
    no_bos = AutoTokenizer.from_pretrained(model)
    assert no_bos.bos_token_id is None
    r = RECORDS[0]
    ex = encode(no_bos, r["instruction"], r["response"], max_length=10_000)
    with_bos = encode(tokenizer, r["instruction"], r["response"], max_length=10_000)
    assert None not in ex["input_ids"] and ex["input_ids"] == with_bos["input_ids"][1:]
    assert ex["labels"] == with_bos["labels"][1:]
    data = write_records(tmp_path / "d.jsonl", RECORDS)
    train(str(model), str(data), str(tmp_path / "out"), str(tmp_path / "log.jsonl"), str(tmp_path / "scratch"),
          {**SETTINGS, "epochs": 1})
    assert [json.loads(l)["step"] for l in (tmp_path / "log.jsonl").read_text().splitlines() if '"loss"' in l] == [1, 2]


def test_padding_free_batches_give_the_padded_loss(tiny, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny, attn_implementation="sdpa").eval()
    examples = encode_records(tokenizer, RECORDS, 256)
    padded = PaddedCollator(tokenizer.pad_token_id)(examples)
    packed = packed_collator()(examples)
    assert padded["attention_mask"].sum() == packed["input_ids"].numel() < padded["input_ids"].numel()
    with torch.no_grad():
        loss_padded = model(**padded, use_cache=False).loss.item()
        # SDPA gets the block-diagonal mask from the restarting position_ids (varlen kernels use cu_seq_lens).
        inputs = {k: v for k, v in packed.items() if not k.startswith(("cu_", "max_"))}
        loss_packed = model(**inputs, use_cache=False).loss.item()
    assert loss_packed == pytest.approx(loss_padded, rel=1e-5)


def test_global_batch_must_match():
    check_batch({"global_batch_size": 512, "per_device_batch_size": 2, "gradient_accumulation_steps": 128}, 2)
    with pytest.raises(ValueError, match=r"train.stages.<stage>.global_batch_size 512 != .* x world size 1 "
                                         r"\(= 256; gradient_accumulation_steps 256 would match\)"):
        check_batch({"global_batch_size": 512, "per_device_batch_size": 2, "gradient_accumulation_steps": 128}, 1)
    with pytest.raises(ValueError, match="world size x per_device_batch_size does not divide 512"):
        check_batch({"global_batch_size": 512, "per_device_batch_size": 2, "gradient_accumulation_steps": 64}, 3)


def test_bf16_on_a_gpu_without_it_is_refused(monkeypatch):
    """No such GPU here: the two CUDA queries answer as a V100 would (compute capability 7.0)."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Tesla V100-SXM2-32GB")
    for precision in ("bf16", "bf16-mixed", "auto"):
        with pytest.raises(ValueError, match=r"train.precision '(bf16|bf16-mixed)' needs bfloat16, which Tesla V100"):
            precision_policy(precision, "adafactor", on_gpu=True)
    assert precision_policy("fp32", "adafactor", on_gpu=True)["param_dtype"] == "float32"


@pytest.mark.parametrize("case", ["missing_model", "empty_data", "too_long", "no_response_field", "batch",
                                  "launcher_mixed_precision", "deepspeed_bf16"])
def test_bad_input_fails_before_training(tmp_path, tiny, case, monkeypatch):
    data = write_records(tmp_path / "d.jsonl", RECORDS)
    model, settings = str(tiny), dict(SETTINGS)
    fsdp_yaml, ds_yaml = (str(REPO / f"configs/accelerate/{b}.yaml") for b in ("fsdp", "deepspeed"))
    if case == "batch":
        settings["global_batch_size"], match = 3, "train.stages.<stage>.global_batch_size 3 != per_device_batch_size 1"
    elif case == "launcher_mixed_precision":  # what `accelerate launch` exports for mixed_precision: bf16
        monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
        monkeypatch.setenv("MAGICODER_ACCELERATE_CONFIG", fsdp_yaml)
        match = "fsdp.yaml: mixed_precision 'bf16' contradicts train.precision 'fp32'; set mixed_precision: 'no'"
    elif case == "deepspeed_bf16":
        monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
        monkeypatch.setenv("MAGICODER_ACCELERATE_CONFIG", ds_yaml)
        settings["precision"] = "bf16"
        match = "train.precision 'bf16' .* contradicts train.distributed 'deepspeed' .*deepspeed.yaml"
    elif case == "missing_model":
        model, match = str(tmp_path / "no-such-model"), "base model .* not found"
    elif case == "empty_data":
        data, match = write_records(tmp_path / "empty.jsonl", []), "no training records"
    elif case == "too_long":
        settings["max_length"], match = 4096, "max_length 4096 exceeds .* max_position_embeddings 512"
    else:
        data, match = write_records(tmp_path / "bad.jsonl", [{"instruction": "x"}]), "record 1 has no string field 'response'"
    import transformers.modeling_utils

    def no_weights(*a, **k):
        raise AssertionError("weights loaded before the bad input was found")

    monkeypatch.setattr(transformers.modeling_utils.PreTrainedModel, "from_pretrained", no_weights)
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        train(model, str(data), str(tmp_path / "out"), str(tmp_path / "log.jsonl"), str(tmp_path / "scratch"), settings)
    assert not (tmp_path / "out").exists() and not list((tmp_path).glob("scratch/checkpoint-*"))


def train_cmd(tiny, data, root, settings):
    return [sys.executable, "-m", "magicoder_repro.train.train", "--model", str(tiny), "--data", str(data),
            "--out", str(root / "out"), "--log-file", str(root / "log.jsonl"), "--scratch", str(root / "scratch"),
            "--settings", json.dumps(settings)]


def run_env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "scripts")}


PREEMPT_SETTINGS = {**SETTINGS, "save_steps": 100}  # only the signal's checkpoint: resume must come from it


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny):
    """16 records, 8 steps per epoch, 16 steps, trained without a stop: the reference of a resumed run."""
    root = tmp_path_factory.mktemp("ref")
    data = write_records(root / "d.jsonl", RECORDS * 4)
    subprocess.run(train_cmd(tiny, data, root, PREEMPT_SETTINGS), check=True, env=run_env(), capture_output=True, timeout=600)
    return root, data


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1], ids=["SIGTERM", "SIGUSR1"])  # USR1: SLURM --signal
def test_stop_signal_then_rerun_resumes_to_the_uninterrupted_weights(tmp_path, tiny, uninterrupted, signum):
    from safetensors.torch import load_file

    ref, data = uninterrupted
    cut = tmp_path / "cut"
    proc = subprocess.Popen(train_cmd(tiny, data, cut, PREEMPT_SETTINGS), env=run_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    scratch_log = cut / "scratch" / "log.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until training is under way, then preempt it
        steps = [json.loads(l).get("step", 0) for l in scratch_log.read_text().splitlines()] if scratch_log.exists() else []
        if max(steps, default=0) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signum, err[-2000:]  # non-zero: Snakemake / SLURM retry the job
    assert f"{signal.Signals(signum).name}: saved a checkpoint" in err
    if signum == signal.SIGUSR1:  # still the hung-run diagnosis too: every thread's stack
        assert "most recent call first" in err
    assert not (cut / "out").exists()
    saved = sorted((cut / "scratch").glob("checkpoint-*"))
    assert len(saved) == 1
    stopped_at = int(saved[0].name.split("-")[1])
    assert 3 <= stopped_at < 16

    subprocess.run(train_cmd(tiny, data, cut, PREEMPT_SETTINGS), check=True, env=run_env(), capture_output=True, timeout=600)
    log = [json.loads(l) for l in (cut / "log.jsonl").read_text().splitlines()]
    resume = {"event": "resume", "checkpoint": f"checkpoint-{stopped_at}"}
    assert resume in log
    assert [r["step"] for r in log if r.get("event") == "start"] == [0, stopped_at]
    assert [r["step"] for r in log[log.index(resume):] if "loss" in r] == list(range(stopped_at + 1, 17))
    ref_log = [json.loads(l) for l in (ref / "log.jsonl").read_text().splitlines() if '"loss"' in l]
    assert [r["loss"] for r in log if "loss" in r][-3:] == pytest.approx([r["loss"] for r in ref_log][-3:], rel=1e-6)

    a, b = load_file(ref / "out" / "model.safetensors"), load_file(cut / "out" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=0, msg=k)
    # The result is an ordinary checkpoint: it loads and differs from the start.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoTokenizer.from_pretrained(cut / "out")
    model = AutoModelForCausalLM.from_pretrained(cut / "out")
    start = load_file(tiny / "model.safetensors")
    assert any(not torch.equal(start[k], a[k]) for k in start)
    assert model.config.model_type == "llama"
