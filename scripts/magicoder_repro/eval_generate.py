"""Samples for one (model, benchmark) pair: prompts in, completions out, nothing executed.

Generation is kept apart from scoring so that a rescoring (new sandbox, fixed harness) never pays for
generation again. Three backends give the same records: transformers (batched and left-padded on a CPU;
on a GPU a static KV cache with torch.compile, 4x plain `generate` in BENCHMARKS.md), an OpenAI-compatible
server (any served model, the teacher included; the key comes from an
environment variable), and vLLM when it is installed (tensor parallel over the visible GPUs).
"""
import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from magicoder_repro import eval_benchmarks
from magicoder_repro.jsonl import write_jsonl
from magicoder_repro.errors import one_line_errors

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class MissingCheckpoint(FileNotFoundError):
    """The model to evaluate is neither a local directory with a config.json nor a Hub id."""


def resolve_model(path: str) -> str:
    """A local checkpoint directory must hold a model; anything else must look like a Hub id."""
    p = Path(path)
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise MissingCheckpoint(f"{path}: directory has no config.json (an unfinished or wrong checkpoint?)")
        return str(p)
    if p.exists() or not HUB_ID.match(path) or path.startswith(("results/", "./", "../")):
        raise MissingCheckpoint(f"{path}: no such checkpoint directory (train it first, or give a Hub id)")
    return path


# ---------------------------------------------------------------- transformers
def load_transformers(path: str, dtype: str = "auto", device: str | None = None):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch_dtype = {"auto": torch.bfloat16 if device == "cuda" else torch.float32, "bf16": torch.bfloat16,
                   "fp16": torch.float16, "fp32": torch.float32}[dtype]
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(device).eval()
    return model, tokenizer


def pick_engine(engine: str, device) -> str:
    """`auto`: static cache + torch.compile on a GPU (measured fastest, BENCHMARKS.md), plain generate on a CPU
    (compilation costs more there than it saves). `paged` is transformers' continuous batching."""
    if engine != "auto":
        return engine
    return "static" if str(device).startswith("cuda") else "plain"


def generate_ids(model, prompts: list[list[int]], settings: dict, engine: str = "auto", pad_id: int = 0,
                 batch_size: int = 16, ignore_eos: bool = False) -> list[list[list[int]]]:
    """New token ids, `settings["n"]` sequences per prompt, in prompt order."""
    import torch
    from transformers import GenerationConfig

    n = settings.get("n", 1)
    sample = settings.get("temperature", 0) > 0
    gen = GenerationConfig(
        max_new_tokens=settings["max_new_tokens"], do_sample=sample, num_return_sequences=n, pad_token_id=pad_id,
        eos_token_id=None if ignore_eos else model.generation_config.eos_token_id,
        **({"temperature": settings["temperature"], "top_p": settings.get("top_p", 1.0)} if sample else {}),
    )
    if settings.get("seed") is not None:
        torch.manual_seed(settings["seed"])
    engine = pick_engine(engine, model.device)
    if engine == "paged":
        out = model.generate_batch(prompts, generation_config=gen, progress_bar=False)
        seqs = [r.generated_tokens for r in out.values()]
        if len(seqs) != len(prompts) * n:
            raise RuntimeError(f"continuous batching returned {len(seqs)} of {len(prompts) * n} sequences")
        return [seqs[i * n:(i + 1) * n] for i in range(len(prompts))]
    if engine == "static":
        gen.cache_implementation = "static"
    elif engine != "plain":
        raise ValueError(f"unknown engine {engine!r} (auto, plain, static, paged)")
    if ignore_eos:
        gen.min_new_tokens = settings["max_new_tokens"]
    # Longest first, so each batch pads little and an out-of-memory shows up in the first batch.
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    results: list = [None] * len(prompts)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(prompts[i]) for i in idx)
        if engine == "static":  # each new (batch, width) shape compiles again: round widths to few buckets
            width = -(-width // 128) * 128
        ids = torch.tensor([[pad_id] * (width - len(prompts[i])) + prompts[i] for i in idx], device=model.device)
        mask = (torch.arange(width, device=model.device)[None, :] >= torch.tensor(
            [width - len(prompts[i]) for i in idx], device=model.device)[:, None]).long()
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=mask, generation_config=gen)
        new = out[:, width:].tolist()
        for j, i in enumerate(idx):
            results[i] = [strip_padding(s, pad_id) for s in new[j * n:(j + 1) * n]]
    return results


def strip_padding(tokens: list[int], pad_id: int) -> list[int]:
    while tokens and tokens[-1] == pad_id:
        tokens.pop()
    return tokens


def generate_transformers(model_path: str, prompts: list[str], settings: dict, backend: dict) -> list[list[str]]:
    model, tok = load_transformers(model_path, backend.get("dtype", "auto"))
    # The Magicoder tokenizers add BOS themselves; prompts are plain text, so encode with special tokens.
    ids = [tok(p)["input_ids"] for p in prompts]
    out = generate_ids(model, ids, settings, backend.get("engine", "auto"), tok.pad_token_id,
                       backend.get("batch_size", 16))
    return [[tok.decode(s, skip_special_tokens=True) for s in seqs] for seqs in out]


# ---------------------------------------------------------------- OpenAI-compatible server
def generate_openai(model: str, prompts: list[str], settings: dict, backend: dict, chat: list[bool]) -> list[list[str]]:
    """Chat requests for instruction prompts (served chat models, the teacher), completions otherwise."""
    from concurrent.futures import ThreadPoolExecutor

    from openai import OpenAI

    key_env = backend.get("api_key_env") or "OPENAI_API_KEY"
    key = os.environ.get(key_env)
    if key is None and not backend.get("base_url"):
        raise SystemExit(f"environment variable {key_env} is not set (needed for {model})")
    client = OpenAI(base_url=backend.get("base_url"), api_key=key or "none", max_retries=backend.get("max_retries", 8))
    common = dict(model=model, temperature=settings.get("temperature", 0), max_tokens=settings["max_new_tokens"],
                  **({"top_p": settings["top_p"]} if "top_p" in settings else {}))

    def one(i):
        outs = []
        for _ in range(settings.get("n", 1)):  # one request per sample: some servers ignore n > 1
            if chat[i]:
                r = client.chat.completions.create(messages=[{"role": "user", "content": prompts[i]}], **common)
                outs.append(r.choices[0].message.content or "")
            else:
                r = client.completions.create(prompt=prompts[i], **common)
                outs.append(r.choices[0].text)
        return outs

    with ThreadPoolExecutor(backend.get("concurrency", 8)) as pool:
        return list(pool.map(one, range(len(prompts))))


# ---------------------------------------------------------------- vLLM
def generate_vllm(model_path: str, prompts: list[str], settings: dict, backend: dict) -> list[list[str]]:
    from vllm import LLM, SamplingParams

    llm = LLM(model_path, tensor_parallel_size=backend.get("tensor_parallel", 1), dtype="auto")
    params = SamplingParams(n=settings.get("n", 1), temperature=settings.get("temperature", 0),
                            top_p=settings.get("top_p", 1.0), max_tokens=settings["max_new_tokens"],
                            seed=settings.get("seed"))
    return [[c.text for c in r.outputs] for r in llm.generate(prompts, params)]


def vllm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


# ---------------------------------------------------------------- main
def generate_samples(model: dict, bench: dict) -> list[dict]:
    """Sample records (task_id, prompt, raw output, post-processed solution) for one benchmark."""
    tasks = eval_benchmarks.load_tasks(bench)
    settings = eval_benchmarks.generation_settings(bench)
    prompts = [t["prompt"] for t in tasks]
    backend = model.get("backend", "transformers")
    if backend == "openai":
        # A served chat model gets the bare instruction and answers with a fenced block of its own.
        for t in tasks:
            t["chat_reply"] = t["chat"]
        prompts = [t["instruction"] if t["chat"] else t["prompt"] for t in tasks]
        raw = generate_openai(model["model"], prompts, settings, model, [t["chat"] for t in tasks])
        for t, p in zip(tasks, prompts):
            t["prompt"] = p
    else:
        path = resolve_model(model["path"])
        if backend == "vllm" or (backend == "auto" and vllm_available()):
            raw = generate_vllm(path, prompts, settings, model)
        elif backend in ("transformers", "auto"):
            raw = generate_transformers(path, prompts, settings, model)
        else:
            raise SystemExit(f"unknown backend {backend!r} (transformers, vllm, openai, auto)")
    records = []
    for task, outs in zip(tasks, raw):
        for k, out in enumerate(outs):
            records.append({"task_id": task["task_id"], "sample": k, "prompt": task["prompt"], "raw": out,
                            "solution": eval_benchmarks.postprocess(bench, task, out)})
    return records


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="JSON: backend, path or model, base_url, api_key_env, engine, ...")
    p.add_argument("--benchmark", required=True, help="JSON: the benchmark's config section (with its name)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    model, bench = json.loads(args.model), json.loads(args.benchmark)
    start = time.time()
    try:
        records = generate_samples(model, bench)
    except (MissingCheckpoint, eval_benchmarks.UnknownBenchmark) as e:
        sys.exit(f"error: {e}")
    write_jsonl(args.out, records)
    print(f"{len(records)} samples for {bench['benchmark']} in {time.time() - start:.1f}s -> {args.out}")


if __name__ == "__main__":
    main()
