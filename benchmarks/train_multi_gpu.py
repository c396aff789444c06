"""The real training path on 1 GPU and on N GPUs (accelerate + FSDP, the repo's config): same records,
same global batch, so the per-step losses must agree and fall.

Builds a random-init DeepSeek-Coder-1.3B-architecture model directory with a small BPE tokenizer
trained on the demo corpus (the GPU machines have no weights), synthesises instruction records from
the demo corpus, then runs scripts/launch_train.sh twice: 1 x per-device 2 x accumulation N, and
N x per-device 2 x accumulation 1. Writes both training logs and a comparison to --out.

    python benchmarks/train_multi_gpu.py --gpus 2 --out results/
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from magicoder_repro.tiny_model import corpus_texts, train_tokenizer  # noqa: E402

DS_13B = dict(hidden_size=2048, intermediate_size=5504, num_hidden_layers=24, num_attention_heads=16,
              num_key_value_heads=16, vocab_size=32256, max_position_embeddings=16384, rope_theta=100000.0)


def build_model(out: Path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer(corpus_texts(sorted((REPO / "data/demo/corpus").glob("*.jsonl"))), 4096)
    cfg = LlamaConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, **DS_13B)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(out)
    tokenizer.save_pretrained(out)


def build_records(path: Path, n: int):
    docs = corpus_texts(sorted((REPO / "data/demo/corpus").glob("*.jsonl")))
    with open(path, "w") as f:
        for i in range(n):
            doc = docs[i % len(docs)]
            f.write(json.dumps({"instruction": f"Explain and rewrite this code:\n{doc[:300]}", "response": doc[:2500]}) + "\n")


def run(gpus: int, world: int, work: Path, model: Path, data: Path, compile_: str, backend: str = "fsdp"):
    settings = {"seed": 42, "precision": "bf16", "attention": "auto", "packing": "auto", "compile": compile_,
                "optimizer": "adafactor", "lr_scheduler": "linear", "warmup_steps": 2, "max_grad_norm": 0,
                "gradient_checkpointing": False, "save_steps": 1000, "save_total_limit": 1, "epochs": 1,
                "learning_rate": 3e-4, "max_length": 1216, "global_batch_size": 2 * world,
                "per_device_batch_size": 2, "gradient_accumulation_steps": world // gpus}
    out = work / f"gpus{gpus}-{backend}"
    cmd = ["bash", str(REPO / "scripts/launch_train.sh"), str(gpus), "1", backend, "--model", str(model),
           "--data", str(data), "--out", str(out / "model"), "--log-file", str(out / "log.jsonl"),
           "--scratch", str(out / "scratch"), "--settings", json.dumps(settings)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "scripts")})
    (work / f"gpus{gpus}-{backend}.stderr.txt").write_text(proc.stderr[-20000:])
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        return None
    return [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines() if '"loss"' in l]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gpus", type=int, default=2)
    p.add_argument("--records", type=int, default=40)
    p.add_argument("--compile", default="auto")
    p.add_argument("--backends", nargs="+", default=["fsdp", "ddp"], help="accelerate configs to compare with 1 GPU")
    p.add_argument("--work", default="/tmp/multi_gpu")
    p.add_argument("--out", default=".")
    a = p.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    build_model(work / "base")
    build_records(work / "records.jsonl", a.records)
    one = run(1, a.gpus, work, work / "base", work / "records.jsonl", a.compile)
    result = {"gpus": a.gpus, "loss_1gpu": [r["loss"] for r in one], "tokens_per_s_1gpu": [r["tokens_per_s"] for r in one]}
    for backend in a.backends:
        many = run(a.gpus, a.gpus, work, work / "base", work / "records.jsonl", a.compile, backend)
        if many is None:
            result[backend] = "failed (see stderr file)"
            continue
        result[backend] = {
            "loss": [r["loss"] for r in many], "tokens_per_s": [r["tokens_per_s"] for r in many],
            "max_rel_diff_vs_1gpu": max(abs(x["loss"] - y["loss"]) / x["loss"] for x, y in zip(one, many)),
            "loss_fell": many[-1]["loss"] < many[0]["loss"], "steps": len(many)}
    Path(a.out, "train_multi_gpu.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
