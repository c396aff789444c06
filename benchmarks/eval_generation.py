"""Evaluation generation through the rule's own command, against the memory-bandwidth floor.

Each job is `python -m magicoder_repro.evaluate.generate` exactly as rules/evaluate.smk runs it (model and
benchmark JSON, `--out`), on a checkpoint saved to local disk: DeepSeek-Coder-6.7B's
architecture with random weights in bf16, created on the GPU and written with save_pretrained, and a BPE
tokenizer trained on the demo corpus (no weights or tokenizers can be downloaded). Random weights almost
never produce EOS, so nearly every sequence runs to max_new_tokens: the worst case for generation time.

The floor of a job is the time to read, at every decode step, the weights once plus the KV cache of each
sequence still running at its true length (HBM bandwidth, datasheet), plus the prefill's matmul FLOPs at
the datasheet bf16 rate. Prints one table; with --out, also the figures as JSON.

    python benchmarks/eval_generation.py --suite greedy --out $OUT/greedy.json      # GPU, HumanEval+/MBPP+
    python benchmarks/eval_generation.py --suite sampling --out $OUT/sampling.json  # GPU, MultiPL-E/DS-1000
    python benchmarks/eval_generation.py --suite greedy --only humaneval-static-cold,humaneval-plain  # the side-by-side pair
    python benchmarks/eval_generation.py --hidden 64 --layers 2 --limit 4 --new-tokens 8   # a CPU smoke run
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
HUMANEVAL = "data/benchmarks/evalplus/HumanEvalPlus-v0.1.10.jsonl.gz"
MBPP = "data/benchmarks/evalplus/MbppPlus-v0.2.0.jsonl.gz"
# The paper preset's sample counts (configs/magicoder-ds.yaml): sequences per model.
PRESET = {"humaneval": 164, "mbpp": 378, "multipl-e": 6 * 160 * 50, "ds1000": 1000 * 40}


def build_checkpoint(out: Path, layers: int, hidden: int, device: str) -> dict:
    """DeepSeek-Coder-6.7B's shape (or a smaller hidden size for a smoke run), random bf16 weights made on `device`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from magicoder_repro.train import tiny_model

    tok = tiny_model.train_tokenizer(tiny_model.corpus_texts(sorted((REPO / "data/demo/corpus").glob("*.jsonl"))), 32000)
    cfg = LlamaConfig(hidden_size=hidden, intermediate_size=hidden * 11008 // 4096, num_hidden_layers=layers,
                      num_attention_heads=max(1, hidden // 128), num_key_value_heads=max(1, hidden // 128),
                      vocab_size=32256, max_position_embeddings=16384, rope_theta=100000, torch_dtype="bfloat16",
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    head_dim = hidden // cfg.num_attention_heads
    info = {"params": sum(p.numel() for p in model.parameters()), "tokenizer_vocab": len(tok),
            "kv_bytes_per_token": 2 * layers * cfg.num_key_value_heads * head_dim * 2}
    del model
    return info


def floor_seconds(batches, weight_bytes: int, kv_per_token: int, params: int, bandwidth: float, flops: float) -> float:
    """Decode: weights + live KV read once per step; prefill: 2 x params FLOPs per prompt token."""
    total = 0.0
    for rows in batches:
        for t in range(max(new for _, new in rows)):
            live = sum(p + t for p, new in rows if new > t)
            total += (weight_bytes + kv_per_token * live) / bandwidth
        total += 2 * params * sum(p for p, _ in rows) / flops
    return total


def run_job(name, model_dir, model_spec, bench, options, work) -> dict:
    """One job through the rule's command (`options`: the static engine's tuning hook, EVAL_DECODE_OPTIONS);
    wall time from outside, figures from its log."""
    out = work / f"{name}.samples.jsonl"
    cmd = [sys.executable, "-m", "magicoder_repro.evaluate.generate", "--model", json.dumps({**model_spec, "path": str(model_dir)}),
           "--benchmark", json.dumps(bench), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "scripts"), os.environ.get("PYTHONPATH", "")]),
           "PYTHONUNBUFFERED": "1", "EVAL_DECODE_OPTIONS": json.dumps(options)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    (work / f"{name}.log").write_text(log)
    print(f"--- {name}: rc {proc.returncode}, {wall:.1f}s\n" + "\n".join(
        line for line in log.splitlines() if not line.startswith("figures:"))[-3000:], flush=True)
    if proc.returncode:
        return {"job": name, "error": log[-2000:]}
    figures = json.loads(next(line for line in log.splitlines() if line.startswith("figures:"))[len("figures:"):])
    return {"job": name, "options": options, "wall_s": round(wall, 1), "log_backoff": "out of GPU memory" in log, **figures}


def sampler_timing(device: str, rows: int = 300, vocab: int = 32256) -> dict:
    """Milliseconds per step of the static engine's sampler at T 0.2 (top-p 0.95, 0.5): top-k-first against a
    full sort of the vocabulary, on logits shaped like a random-weight model's and like a peaked one's."""
    import torch

    from magicoder_repro.evaluate import decode_engine

    keys = decode_engine.sample_key(0, torch.arange(rows, device=device), 0)
    found = {}
    for shape, scale in (("random-init", 1.0), ("peaked", 8.0)):
        logits = torch.randn(rows, vocab, device=device) * scale
        for top_p in (0.95, 0.5):
            for k in (64, vocab):
                settings = {"temperature": 0.2, "top_p": top_p}
                decode_engine.pick(logits, settings, keys, 0, k)
                if device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                for step in range(20):
                    _, fallback = decode_engine.pick(logits, settings, keys, step, k)
                if device == "cuda":
                    torch.cuda.synchronize()
                found[f"{shape} top-p {top_p} k {k}"] = {"ms": round((time.perf_counter() - start) / 20 * 1e3, 3),
                                                         "fallback_rows": fallback}
    return found


def local_rows(kind: str, count: int, work: Path) -> str:
    """A MultiPL-E or DS-1000 subset in the Hub schema (the fixtures' problems, repeated to `count`)."""
    src = {"multipl-e": sorted((REPO / "tests/fixtures/multiple").glob("*.jsonl")), "ds1000": [REPO / "tests/fixtures/ds1000/ds1000.jsonl"]}[kind]
    rows = [json.loads(line) for path in src for line in path.read_text().splitlines() if line.strip()]
    out = []
    for i in range(count):
        r = dict(rows[i % len(rows)])
        if kind == "multipl-e":
            r["name"] = f"{r['name']}#{i}"
        else:
            r["metadata"] = {**r["metadata"], "problem_id": i}
        out.append(r)
    path = work / f"{kind}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in out))
    return str(path)


def main():
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="greedy", help="greedy, sampling, or both: greedy,sampling")
    p.add_argument("--engine", default="auto", help="the model's engine (a CPU smoke run: static)")
    p.add_argument("--layers", type=int, default=32)
    p.add_argument("--hidden", type=int, default=4096)
    p.add_argument("--limit", type=int, help="tasks per benchmark (default: all; sampling: 6 problems)")
    p.add_argument("--new-tokens", type=int, help="override max_new_tokens (smoke runs)")
    p.add_argument("--bandwidth-tbs", type=float, default=4.8, help="HBM bandwidth, TB/s (H200 datasheet)")
    p.add_argument("--tflops", type=float, default=989, help="dense bf16 TFLOP/s (H200 datasheet)")
    p.add_argument("--work", help="where the checkpoint and samples go (default: a temporary directory)")
    p.add_argument("--budget-s", type=float, default=1e9, help="start no job after this many seconds (device leases)")
    p.add_argument("--only", help="comma-separated job names to run (default: the whole suite)")
    p.add_argument("--out")
    args = p.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    work = Path(args.work or tempfile.mkdtemp(prefix="eval-generation-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    info = build_checkpoint(work / "model", args.layers, args.hidden, device)
    info["build_s"] = round(time.perf_counter() - t0, 1)
    print(f"checkpoint: {info}", flush=True)
    if device == "cuda":
        torch.cuda.empty_cache()
    spec = {"backend": "auto", "engine": args.engine, "batch_size": None, "dtype": "bf16"}
    eager = {"graphs": False}

    def bench(kind, **kw):
        b = {"benchmark": kind, "kind": kind, "temperature": 0.0, "n": 1, "max_new_tokens": 512, **kw}
        if args.new_tokens:
            b["max_new_tokens"] = args.new_tokens
        return b

    jobs = []
    if "greedy" in args.suite:
        he, mbpp = bench("humaneval", dataset=HUMANEVAL, limit=args.limit), bench("mbpp", dataset=MBPP, limit=args.limit)
        # cold: the first job of the run (nothing compiled; the OS has just written the checkpoint)
        jobs += [("humaneval-static-cold", spec, he, {}), ("humaneval-static-eager", spec, he, eager),
                ("humaneval-static-window256", spec, he, {"window": 256}), ("humaneval-static-warm", spec, he, {}),
                ("mbpp-static", spec, mbpp, {}),
                ("humaneval-plain-32", {**spec, "engine": "plain"}, {**he, "limit": 32}, {}),
                ("humaneval-static-32", spec, {**he, "limit": 32}, {}), ("humaneval-static-math", spec, he, {"attention": "math"})]
    if "sampling" in args.suite:
        count = args.limit or 6
        mpe = bench("multipl-e", dataset=local_rows("multipl-e", count, work), temperature=0.2, top_p=0.95, n=50, seed=0)
        ds = bench("ds1000", dataset=local_rows("ds1000", count, work), temperature=0.2, top_p=0.5, n=40, seed=0,
                   max_new_tokens=args.new_tokens or 1024)
        # DS-1000 asks for every sequence in one batch: more than the GPU holds, so the backoff is exercised.
        jobs += [("multipl-e-static", spec, mpe, {}), ("ds1000-static-oversized-batch", {**spec, "batch_size": count * 40}, ds, {}),
                ("multipl-e-static-eager", spec, mpe, eager), ("multipl-e-static-k1024", spec, mpe, {"candidates": 1024})]
        jobs += [(f"multipl-e-static-{kernel}", spec, mpe, {"attention": kernel}) for kernel in ("math", "efficient", "cudnn")]
    if args.only:  # in the order given
        named = {job[0]: job for job in jobs}
        jobs = [named[name] for name in args.only.split(",")]
    weight_bytes = info["params"] * 2
    rows = []
    result = {"gpu": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__,
              "transformers": __import__("transformers").__version__, "suite": args.suite, "checkpoint": info, "jobs": rows}
    if "sampling" in args.suite and device == "cuda":  # minutes on a CPU
        result["sampler_ms_per_step"] = sampler_timing(device)
        print(f"sampler: {result['sampler_ms_per_step']}", flush=True)
    for name, model_spec, b, options in jobs:
        if time.perf_counter() - t0 > args.budget_s:
            print(f"--- {name}: skipped (past --budget-s)", flush=True)
            continue
        r = run_job(name, work / "model", model_spec, b, options, work)
        if "batches" in r:
            seqs = sum(len(batch) for batch in r["batches"])
            new = sum(n for batch in r["batches"] for _, n in batch)
            floor = floor_seconds(r["batches"], weight_bytes, info["kv_bytes_per_token"], info["params"],
                                  args.bandwidth_tbs * 1e12, args.tflops * 1e12)
            r.update(kind=b["kind"], sequences=seqs, new_tokens=new, full_length=sum(n == b["max_new_tokens"] for batch in r["batches"] for _, n in batch),
                     mean_prompt_tokens=round(sum(pl for batch in r["batches"] for pl, _ in batch) / seqs, 1),
                     batch_size=len(r["batches"][0]), floor_s=round(floor, 2), ratio_to_floor=round(r["generate_s"] / floor, 2),
                     tokens_per_s=round(new / r["generate_s"]), floor_tokens_per_s=round(new / floor),
                     seconds_per_sequence=r["generate_s"] / seqs)
            floors = [floor_seconds([batch], weight_bytes, info["kv_bytes_per_token"], info["params"],
                                    args.bandwidth_tbs * 1e12, args.tflops * 1e12) for batch in r["batches"]]
            r["batch_floor_s"] = [round(f, 3) for f in floors]
            r["steady_ratio"] = round(r["batch_s"][-1] / floors[-1], 2)  # the last batch: no capture, no warm-up
            del r["batches"]
            if len(r["batch_s"]) > 1:  # the last batch pays no warm-up: the rate a whole preset benchmark runs at
                steady = r["batch_s"][-1] / r["batch_size"]
                r["preset_gpu_hours_per_model"] = round(PRESET[b["kind"]] * steady / 3600, 3)
        rows.append(r)
        print(json.dumps(r), flush=True)
        if args.out:  # after every job: a lease that ends early still returns what ran
            Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"\n{result['gpu']}, torch {result['torch']}, transformers {result['transformers']}")
    print(f"{'job':32} {'wall s':>7} {'load s':>7} {'gen s':>7} {'floor s':>8} {'ratio':>6} {'tok/s':>7} {'floor tok/s':>11} {'batch':>6} {'steady':>6}")
    for r in rows:
        if "error" in r:
            print(f"{r['job']:32} failed: {r['error'][-200:]}")
        else:
            print(f"{r['job']:32} {r['wall_s']:7.1f} {r['load_s']:7.1f} {r['generate_s']:7.1f} {r['floor_s']:8.2f} "
                  f"{r['ratio_to_floor']:6.2f} {r['tokens_per_s']:7d} {r['floor_tokens_per_s']:11d} {r['batch_size']:6d} {r['steady_ratio']:6.2f}")


if __name__ == "__main__":
    main()
