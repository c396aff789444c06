"""Generation speed of the evaluation's transformers backend: plain `generate` against the fast engines.

DeepSeek-Coder-6.7B's architecture with random weights in bf16 (no download needed), 164 prompts of 256
random tokens (HumanEval's size), 256 new tokens greedy with EOS ignored so every sequence is full length.
Each engine goes through `eval_generate.generate_ids`, the function the pipeline calls, after one warm-up
call (compilation, CUDA-graph capture) that is timed and reported separately. Prints one table; with
--out, also writes the figures as JSON.

    python benchmarks/eval_generation.py --out $OUT/eval_generation.json        # the full run (GPU)
    python benchmarks/eval_generation.py --layers 2 --prompts 8 --new-tokens 16  # a smoke run
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))


def build_model(layers: int, device: str):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=layers, num_attention_heads=32,
                      num_key_value_heads=32, vocab_size=32256, max_position_embeddings=16384, rope_theta=100000,
                      bos_token_id=32013, eos_token_id=32021, pad_token_id=32014)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16).eval()
    return model


def main():
    import torch
    import transformers

    from magicoder_repro.eval_generate import generate_ids

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=32)
    p.add_argument("--prompts", type=int, default=164)
    p.add_argument("--prompt-len", type=int, default=256)
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--engines", default="plain,static,paged")
    p.add_argument("--plain-batch", type=int, default=164, help="batch size of plain/static generate")
    p.add_argument("--out")
    args = p.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.time()
    model = build_model(args.layers, device)
    print(f"model built in {time.time() - t0:.1f}s on {device}; transformers {transformers.__version__}, "
          f"torch {torch.__version__}", flush=True)
    g = torch.Generator().manual_seed(1)
    prompts = torch.randint(100, 32000, (args.prompts, args.prompt_len), generator=g).tolist()
    settings = {"max_new_tokens": args.new_tokens, "temperature": 0}
    rows, outputs = [], {}
    for engine in args.engines.split(","):
        def call(ps):
            if device == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            out = generate_ids(model, ps, settings, engine, pad_id=32014, batch_size=args.plain_batch, ignore_eos=True)
            if device == "cuda":
                torch.cuda.synchronize()
            return out, time.perf_counter() - t
        try:
            _, warm = call(prompts[:8] if engine == "plain" else prompts)  # compile / capture / allocator warm-up
            out, secs = call(prompts)
        except Exception as e:  # one engine failing must not hide the others' figures
            print(f"{engine}: FAILED {type(e).__name__}: {e}", flush=True)
            rows.append({"engine": engine, "error": f"{type(e).__name__}: {e}"[:500]})
            continue
        tokens = sum(len(s) for seqs in out for s in seqs)
        outputs[engine] = out
        rows.append({"engine": engine, "seconds": round(secs, 2), "warmup_seconds": round(warm, 2),
                     "new_tokens": tokens, "tokens_per_s": round(tokens / secs), "all_full_length":
                     all(len(s) == args.new_tokens for seqs in out for s in seqs)})
        print(rows[-1], flush=True)
        if device == "cuda":
            torch.cuda.empty_cache()
    # Greedy outputs of the fast engines against plain generate: bf16 kernels differ, so report, don't assert.
    if "plain" in outputs:
        for row in rows:
            if row.get("engine") in outputs and row["engine"] != "plain":
                same = sum(a == b for a, b in zip(outputs["plain"], outputs[row["engine"]]))
                row["identical_to_plain"] = f"{same}/{len(prompts)}"
    info = {"gpu": torch.cuda.get_device_name() if device == "cuda" else "cpu", "transformers": transformers.__version__,
            "torch": torch.__version__, "layers": args.layers, "prompts": args.prompts, "prompt_len": args.prompt_len,
            "new_tokens": args.new_tokens, "results": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(info, indent=2))
    print(f"\n{info['gpu']}, transformers {info['transformers']}, torch {info['torch']}, {args.layers} layers, "
          f"{args.prompts} prompts x {args.prompt_len} tokens, {args.new_tokens} new tokens greedy")
    print(f"{'engine':8} {'seconds':>8} {'warm-up s':>10} {'tokens/s':>9} {'same as plain':>14}")
    for r in rows:
        if "error" in r:
            print(f"{r['engine']:8} failed: {r['error'][:100]}")
        else:
            print(f"{r['engine']:8} {r['seconds']:8.2f} {r['warmup_seconds']:10.2f} {r['tokens_per_s']:9d} "
                  f"{r.get('identical_to_plain', '-'):>14}")


if __name__ == "__main__":
    main()
