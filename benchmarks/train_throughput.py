"""Training throughput through the real entry point: `scripts/launch_train.sh` -> train.py, as the rule runs it.

No weights exist on the GPU machines, and speed depends on the architecture only: the base model is a
random-init DeepSeek-Coder-6.7B or 1.3B (or tiny) LlamaForCausalLM in bf16, with a word-level tokenizer
whose one token per word lets the records take the lengths we ask for. Records follow an
OSS-Instruct-like length mix (`record_lengths`). The settings are the paper preset's stage 1
(configs/magicoder-ds.yaml: bf16, Adafactor, global batch 512, max length 1216) on one device, in two
variants trained on the same records:
  paper: the original recipe, right-padded micro-batches of 2 records, eager, 2 x 256 accumulation;
  fast:  the GPU default, padding-free micro-batches of --fast-batch records, compiled decoder layers.
Each optimizer step's tokens/s comes from train.py's own log (non-padding tokens, everything included:
data loading, forward, backward, the Adafactor step). MFU = 6 x params x tokens/s over the datasheet
bf16 rate (989 TFLOP/s for H100/H200 SXM) and over a matmul rate measured in the same run. --profile
also writes train.py's torch.profiler summary of the fast variant's second step. JSON to --out.

    python benchmarks/train_throughput.py --arch ds-6.7b --steps 2 1 --fast-batch 32 --out $OUT
    python benchmarks/train_throughput.py --arch tiny --global-batch 8 --max-length 256 --out /tmp/tt  # CPU
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
DATASHEET_TFLOPS = 989  # dense bf16, H100/H200 SXM
ARCHS = {  # DeepSeek-Coder configs (config.json of the Hub models)
    "ds-6.7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32),
    "ds-1.3b": dict(hidden_size=2048, intermediate_size=5504, num_hidden_layers=24, num_attention_heads=16),
    "tiny": dict(hidden_size=256, intermediate_size=688, num_hidden_layers=2, num_attention_heads=4),
}
VOCAB = 32256


def record_lengths(n, max_length, seed=0, median=400, sigma=0.6, prompt_tokens=60):
    """Token lengths of n records and their prompt parts.

    Assumed distribution (documented in BENCHMARKS.md): total length lognormal with median 400 tokens and
    sigma 0.6 (mean ~480), clipped to [prompt + 8, max_length]; the prompt part is the fixed ~45-token
    Magicoder template plus a short instruction, ~60 tokens. OSS-Instruct problems are a paragraph and
    solutions a few dozen lines of code, which puts records at a few hundred tokens with a long tail;
    Magicoder's max length of 1216 truncates only the far tail.
    """
    g = torch.Generator().manual_seed(seed)
    total = torch.exp(math.log(median) + sigma * torch.randn(n, generator=g)).round().long()
    total = total.clamp(prompt_tokens + 8, max_length)
    prompt = (prompt_tokens * (0.5 + torch.rand(n, generator=g))).long().clamp(max=total - 8)
    return total.tolist(), prompt.tolist()


def word_tokenizer():
    """One token per word `w<i>` (and per template word or mark, mostly [UNK]): lengths we control."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    special = ["<s>", "</s>", "<pad>", "[UNK]"]
    vocab = {t: i for i, t in enumerate(special + [f"w{i}" for i in range(VOCAB - len(special))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="[UNK]")


def build_model(arch, out: Path):
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = word_tokenizer()
    cfg = LlamaConfig(vocab_size=VOCAB, max_position_embeddings=16384, rope_theta=100000.0,
                      num_key_value_heads=ARCHS[arch]["num_attention_heads"], tie_word_embeddings=False,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id, **ARCHS[arch])
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return sum(p.numel() for p in model.parameters())


def write_records(path: Path, n, max_length, template_tokens=45):
    """n records whose prompt + response token counts follow `record_lengths` (template included)."""
    lengths, prompts = record_lengths(n, max_length)
    g = torch.Generator().manual_seed(1)
    with open(path, "w") as f:
        for total, p in zip(lengths, prompts):
            words = [f"w{i}" for i in torch.randint(0, VOCAB - 4, (total,), generator=g).tolist()]
            cut = max(p - template_tokens, 4)
            f.write(json.dumps({"instruction": " ".join(words[:cut]), "response": " ".join(words[cut:])}) + "\n")


def preset_settings(global_batch, max_length):
    """Stage 1 of configs/magicoder-ds.yaml merged as rules/common.smk's stage_settings does."""
    train = yaml.safe_load((REPO / "configs/magicoder-ds.yaml").read_text())["train"]
    shared = {k: v for k, v in train.items() if k not in ("stages", "tiny_model", "base_model")}
    s = {**shared, **train["stages"]["stage1"], "epochs": 1, "save_steps": 10**6, "save_total_limit": 1}
    s["global_batch_size"] = global_batch or s["global_batch_size"]
    s["max_length"] = max_length or s["max_length"]
    return {k: v for k, v in s.items() if k not in ("gpus", "nodes", "distributed", "cpu_processes")}


def matmul_tflops(n=8192, reps=10):
    if not torch.cuda.is_available():
        return None
    a, b = (torch.randn(n, n, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def run_variant(name, settings, work, model, data, n_params, ceiling, profile):
    out = work / name
    shutil.rmtree(out, ignore_errors=True)
    gpus = 1 if torch.cuda.is_available() else 0
    cmd = ["bash", str(REPO / "scripts/launch_train.sh"), str(gpus), "1", "ddp", "1", "--model", str(model),
           "--data", str(data), "--out", str(out / "model"), "--log-file", str(out / "log.jsonl"),
           "--scratch", str(out / "scratch"), "--settings", json.dumps(settings)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
    if profile:
        env["MAGICODER_TRAIN_PROFILE"] = str(work / f"{name}.profile.json")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    result = {"settings": {k: settings[k] for k in ("packing", "compile", "per_device_batch_size",
                                                    "gradient_accumulation_steps", "precision")},
              "wall_s": round(time.perf_counter() - t0, 1), "exit": proc.returncode}
    if proc.returncode != 0:
        result["stderr_tail"] = proc.stderr[-3000:]
        return result
    log = [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "loss" in r]
    # The first step compiles, and a profiled second step runs slower; with one step, it is all there is.
    timed = [r for r in steps[1:] if not (profile and r["step"] == 2)] or steps[1:] or steps
    rate = statistics.median(r["tokens_per_s"] for r in timed)
    result.update(
        steps=[{k: r.get(k) for k in ("step", "loss", "tokens_per_s", "peak_mem_gib")} for r in steps],
        timed_steps=[r["step"] for r in timed], tokens_per_s=rate, final_loss=steps[-1]["loss"],
        tokens_per_step=steps[0]["tokens_seen"],
        mfu_datasheet=6 * n_params * rate / (DATASHEET_TFLOPS * 1e12),
        mfu_measured=6 * n_params * rate / (ceiling * 1e12) if ceiling else None,
        peak_mem_gib=max((r.get("peak_mem_gib") or 0) for r in steps) or None,
        precision=next(r for r in log if r.get("event") == "precision"))
    if profile and (work / f"{name}.profile.json").exists():
        result["profile"] = json.loads((work / f"{name}.profile.json").read_text())
    shutil.rmtree(out / "model", ignore_errors=True)  # the disk holds few 6.7B copies
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="ds-6.7b", choices=sorted(ARCHS))
    p.add_argument("--variants", nargs="+", default=["fast", "paper"], choices=["fast", "paper"])
    p.add_argument("--steps", nargs="+", type=int, default=[2, 1], help="optimizer steps per variant, in order")
    p.add_argument("--fast-batch", type=int, default=32, help="records per padding-free micro-batch (fast)")
    p.add_argument("--global-batch", type=int, help="default: the preset's 512")
    p.add_argument("--max-length", type=int, help="default: the preset's 1216")
    p.add_argument("--profile", action="store_true", help="torch.profiler summary of the fast variant's 2nd step")
    p.add_argument("--work", default="/tmp/train_throughput")
    p.add_argument("--out", default=".")
    a = p.parse_args()
    work, out = Path(a.work), Path(a.out)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out.mkdir(parents=True, exist_ok=True)
    base = preset_settings(a.global_batch, a.max_length)
    result = {"arch": a.arch, "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
              "torch": torch.__version__, "matmul_tflops": matmul_tflops(), "datasheet_tflops": DATASHEET_TFLOPS}
    import transformers
    result["transformers"] = transformers.__version__
    t0 = time.perf_counter()
    result["params"] = build_model(a.arch, work / "base")
    torch.cuda.empty_cache()
    n_records = base["global_batch_size"] * max(a.steps)
    write_records(work / "records.jsonl", n_records, base["max_length"])
    result.update(build_s=round(time.perf_counter() - t0, 1), records=n_records,
                  global_batch=base["global_batch_size"], max_length=base["max_length"])
    print(f"built {a.arch} ({result['params'] / 1e9:.2f}B) and {n_records} records in {result['build_s']} s", flush=True)
    for name, steps in zip(a.variants, a.steps):
        per_device = a.fast_batch if name == "fast" else base["per_device_batch_size"]
        settings = {**base, "per_device_batch_size": per_device,
                    "gradient_accumulation_steps": base["global_batch_size"] // per_device,
                    "packing": name == "fast", "compile": "auto" if name == "fast" else False}
        data = work / f"records.{name}.jsonl"
        with open(work / "records.jsonl") as src, open(data, "w") as dst:  # the same first records for each
            dst.writelines(line for _, line in zip(range(base["global_batch_size"] * steps), src))
        result[name] = run_variant(name, settings, work, work / "base", data, result["params"],
                                   result["matmul_tflops"], a.profile and name == "fast")
        r = result[name]
        print(f"{name}: exit {r['exit']} in {r['wall_s']} s; tokens/s {r.get('tokens_per_s', 0):.0f} "
              f"MFU {r.get('mfu_datasheet', 0):.1%} peak {r.get('peak_mem_gib')} GiB", flush=True)
        (out / f"train_throughput_{a.arch}.json").write_text(json.dumps(result, indent=1))  # kept if a later one dies
    if all(result.get(v, {}).get("tokens_per_s") for v in ("fast", "paper")):
        result["speedup_fast_over_paper"] = result["fast"]["tokens_per_s"] / result["paper"]["tokens_per_s"]
    (out / f"train_throughput_{a.arch}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k not in ("fast", "paper")}, indent=1))
    for name in a.variants:
        r = result[name]
        if "tokens_per_s" in r:
            print(f"{name:6} {r['tokens_per_s']:9.0f} tok/s  MFU {r['mfu_datasheet']:6.1%} (datasheet)  "
                  f"peak {r['peak_mem_gib'] or 0:.1f} GiB  final loss {r['final_loss']:.4f}")
        else:
            print(f"{name}: failed\n{r.get('stderr_tail')}")
    sys.exit(0 if all(result[v]["exit"] == 0 for v in a.variants) else 1)


if __name__ == "__main__":
    main()
