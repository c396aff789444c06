"""Samples for one (model, benchmark) pair: prompts in, completions out, nothing executed.

Generation is kept apart from scoring so that a rescoring (new sandbox, fixed harness) never pays for
generation again. Three backends give the same records: transformers (batched and left-padded `generate`
on a CPU; on a GPU decode_engine's static engine: one prefill per prompt, decode steps replayed as CUDA
graphs), an OpenAI-compatible
server (any served model, the teacher included; the key comes from an environment variable), and vLLM
when it is installed (tensor parallel over the visible GPUs). Samples are kept batch by batch, so a job
that runs out of GPU memory halves its batch and a killed job resumes (BENCHMARKS.md has the figures).
"""
import argparse
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

from magicoder_repro.evaluate import benchmarks as eval_benchmarks

from magicoder_repro.core import prompt_format
from magicoder_repro.core.errors import one_line_errors
from magicoder_repro.core.jsonl import dumps, write_jsonl

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
    model = load_direct(path, torch_dtype, device) if device == "cuda" else None
    if model is None:  # straight onto the device: a 13 GB checkpoint loaded to the CPU first and copied costs seconds
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, device_map=device)
    return model.eval(), tokenizer


def load_direct(path: str, dtype, device: str):
    """The model built on the device from its config, its safetensors shards read onto the device one at a time
    and copied in: 1.2 GB/s through from_pretrained on the H200 (BENCHMARKS.md), several times that so. None
    (from_pretrained then) where the shards' names are not the model's own."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

    shards = sorted(Path(path).glob("*.safetensors")) if Path(path).is_dir() else []
    if not shards:
        return None
    config = AutoConfig.from_pretrained(path)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    expected, found = set(model.state_dict()), set()
    for shard in shards:
        weights = load_file(shard, device=device)
        if not set(weights) <= expected:
            return None
        model.load_state_dict(weights, strict=False)
        found |= set(weights)
        del weights
    tied = {"lm_head.weight"} if config.get_text_config().tie_word_embeddings else set()
    if expected - found - tied:
        return None
    model.tie_weights()
    if (Path(path) / "generation_config.json").is_file():
        model.generation_config = GenerationConfig.from_pretrained(path)
    if device == "cuda":
        torch.cuda.empty_cache()  # the shards' memory, before the batch size is read from what is free
    return model


def pick_engine(engine: str, device) -> str:
    """`auto`: the static engine on a GPU (measured fastest, BENCHMARKS.md), plain generate on a CPU."""
    if engine != "auto":
        return engine
    return "static" if str(device).startswith("cuda") else "plain"


def auto_batch_size(model, n_seqs: int, max_len: int, headroom: float = 0.8) -> int:
    """Sequences per batch: as many as the free GPU memory holds (KV cache of `max_len` positions, logits and
    sampler scratch per row, beside one prefill chunk), split evenly so that the last batch is not a sliver;
    16 on a CPU."""
    import torch

    from magicoder_repro.evaluate import decode_engine

    if model.device.type != "cuda":
        return min(16, n_seqs)
    cfg = model.config.get_text_config()
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    kv_token = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * head_dim * model.dtype.itemsize
    prefill = decode_engine.OPTIONS["prefill_tokens"] * (kv_token + 4 * cfg.intermediate_size * model.dtype.itemsize)
    per_seq = kv_token * max_len + 16 * cfg.vocab_size
    cap = max(1, int((headroom * torch.cuda.mem_get_info(model.device)[0] - prefill) // per_seq))
    batches = -(-n_seqs // cap)
    return -(-n_seqs // batches)


def sequence_plan(prompts: list[list[int]], n: int) -> list[tuple[int, int]]:
    """Every (prompt, sample) pair, longest prompt first: batches pad little, the first one is the largest
    (its cache size serves every later batch, and an out-of-memory shows up at once), and a prompt's samples
    are neighbours (one prefill serves them)."""
    return sorted(((i, k) for i in range(len(prompts)) for k in range(n)), key=lambda s: (-len(prompts[s[0]]), s))


def eos_ids(model, ignore_eos: bool) -> list[int]:
    eos = None if ignore_eos else model.generation_config.eos_token_id
    return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)


def generate_batches(model, prompts: list[list[int]], settings: dict, engine: str = "auto", pad_id: int = 0,
                     batch_size: int | None = None, ignore_eos: bool = False, done=frozenset(), log=print,
                     stats: dict | None = None):
    """Yield (pairs, new token ids) batch by batch for every (prompt, sample) pair not in `done`.

    The static engine (decode_engine) keeps one cache of `batch_size` rows for the whole job, sized once for
    the longest prompt; its figures accumulate in `stats`. A batch that does not fit the GPU is retried at
    half the size (said in the log)."""
    import torch

    from magicoder_repro.evaluate import decode_engine

    n, new = settings.get("n", 1), settings["max_new_tokens"]
    engine = pick_engine(engine, model.device)
    if engine not in ("plain", "static"):
        raise ValueError(f"unknown engine {engine!r} (auto, plain, static)")
    plan = sequence_plan(prompts, n)
    longest = max(map(len, prompts))
    batch_size = min(batch_size or auto_batch_size(model, len(plan), longest + new), len(plan))
    log(f"engine {engine}, {len(plan)} sequences ({len(plan) - len(done)} to do), batch size {batch_size}")
    todo = [(pos, s) for pos, s in enumerate(plan) if s not in done]
    gen, static = plain_config(model, settings, pad_id, ignore_eos) if engine == "plain" else None, None
    while todo:
        chunk = todo[:batch_size]
        pairs = [s for _, s in chunk]
        try:
            if engine == "static":
                if static is None or static.batch != batch_size:
                    static = None
                    static = decode_engine.DecodeEngine(model, batch_size, longest + new, pad_id,
                                                        eos_ids(model, ignore_eos), stats)
                out = run_static(static, prompts, pairs, settings)
            else:
                if settings.get("seed") is not None:  # per batch, from its place in the plan: a resumed job draws the same
                    torch.manual_seed(settings["seed"] * 1_000_003 + chunk[0][0])
                out = run_generate(model, [prompts[i] for i, _ in pairs], gen, pad_id)
        except torch.OutOfMemoryError:
            if batch_size == 1:
                raise
            static, batch_size = None, batch_size // 2
            log(f"out of GPU memory at batch size {batch_size * 2}: retrying at {batch_size}")
            torch.cuda.empty_cache()
            continue
        yield pairs, out
        todo = todo[len(chunk):]


def plain_config(model, settings: dict, pad_id: int, ignore_eos: bool):
    from transformers import GenerationConfig

    sample, new = settings.get("temperature", 0) > 0, settings["max_new_tokens"]
    return GenerationConfig(
        max_new_tokens=new, min_new_tokens=new if ignore_eos else None, do_sample=sample, pad_token_id=pad_id,
        eos_token_id=eos_ids(model, ignore_eos) or None,
        **({"temperature": settings["temperature"], "top_p": settings.get("top_p", 1.0)} if sample else {}),
    )


def run_static(static, prompts: list[list[int]], pairs: list[tuple[int, int]], settings: dict) -> list[list[int]]:
    """One batch through the static engine: each distinct prompt prefilled once; sample (i, k) draws with the
    noise key of (seed, i, k), so it is the same sample whatever its batch (a resumed or backed-off job)."""
    from magicoder_repro.evaluate import decode_engine

    distinct = sorted({i for i, _ in pairs})
    place = {i: j for j, i in enumerate(distinct)}
    seed = settings.get("seed") or 0
    keys = [decode_engine.sample_key(seed, i, k) for i, k in pairs]
    out = static.generate([prompts[i] for i in distinct], [place[i] for i, _ in pairs], keys, settings)
    return [strip_padding(s, static.pad_id) for s in out]


def run_generate(model, rows: list[list[int]], gen, pad_id: int) -> list[list[int]]:
    """New tokens for each left-padded row, trailing padding removed."""
    import torch

    width = max(map(len, rows))
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], device=model.device)
    mask = (torch.arange(width, device=model.device)[None, :] >= torch.tensor(
        [width - len(r) for r in rows], device=model.device)[:, None]).long()
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, generation_config=gen)
    return [strip_padding(s, pad_id) for s in out[:, width:].tolist()]


def generate_ids(model, prompts: list[list[int]], settings: dict, engine: str = "auto", pad_id: int = 0,
                 batch_size: int | None = None, ignore_eos: bool = False) -> list[list[list[int]]]:
    """New token ids, `settings["n"]` sequences per prompt, in prompt order."""
    results = [[None] * settings.get("n", 1) for _ in prompts]
    for pairs, out in generate_batches(model, prompts, settings, engine, pad_id, batch_size, ignore_eos, log=lambda m: None):
        for (i, k), s in zip(pairs, out):
            results[i][k] = s
    return results


def strip_padding(tokens: list[int], pad_id: int) -> list[int]:
    while tokens and tokens[-1] == pad_id:
        tokens.pop()
    return tokens


def generate_transformers(model_path: str, prompts: list[str], settings: dict, backend: dict, kind: str,
                          done: set, keep, log=print):
    """Batches of (pairs, texts) to `keep`, skipping the (prompt, sample) pairs in `done`; returns run figures."""
    start = time.perf_counter()
    import transformers  # noqa: F401  (timed apart from the weights)

    imported = time.perf_counter()
    model, tok = load_transformers(model_path, backend.get("dtype", "auto"))
    ids = prompt_format.eval_input_ids(tok, prompts, kind)
    engine = pick_engine(backend.get("engine", "auto"), model.device)
    loaded = time.perf_counter()
    log(f"model loaded in {loaded - start:.1f}s ({model.dtype}, {model.device})")
    figures = {"engine": f"transformers-{engine}", "load_s": round(loaded - start, 2), "import_s": round(imported - start, 2),
               "batches": [], "batch_s": []}
    stats = {}
    last = loaded
    for pairs, out in generate_batches(model, ids, settings, engine, tok.pad_token_id, backend.get("batch_size"),
                                       False, done, log, stats):
        keep(pairs, [tok.decode(s, skip_special_tokens=True) for s in out], figures["engine"])
        figures["batches"].append([[len(ids[i]), len(s)] for (i, _), s in zip(pairs, out)])
        figures["batch_s"].append(round(time.perf_counter() - last, 2))
        last = time.perf_counter()
        log(f"batch {len(figures['batches'])}: {len(pairs)} sequences, {sum(map(len, out))} new tokens, "
            f"{time.perf_counter() - loaded:.1f}s since load")
    figures["generate_s"] = round(time.perf_counter() - loaded, 2)
    figures.update({k: round(v, 2) for k, v in stats.items()})  # static: prefill and decode seconds, graphs, ...
    return figures


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
def generate_vllm(model_path: str, prompts: list[str], settings: dict, backend: dict, kind: str) -> list[list[str]]:
    """All samples at once (vLLM schedules them itself); the prompt ids are the ones the transformers path uses."""
    from vllm import LLM, SamplingParams

    llm = LLM(model_path, tensor_parallel_size=backend.get("tensor_parallel", 1), dtype="auto")
    params = SamplingParams(n=settings.get("n", 1), temperature=settings.get("temperature", 0),
                            top_p=settings.get("top_p", 1.0), max_tokens=settings["max_new_tokens"],
                            seed=settings.get("seed"))
    ids = prompt_format.eval_input_ids(llm.get_tokenizer(), prompts, kind)
    return [[c.text for c in r.outputs] for r in llm.generate([{"prompt_token_ids": i} for i in ids], params)]


def vllm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def pick_backend(backend: str) -> str:
    """`auto`: vLLM where it is installed, else transformers."""
    if backend not in ("transformers", "vllm", "openai", "auto"):
        raise SystemExit(f"unknown backend {backend!r} (transformers, vllm, openai, auto)")
    return ("vllm" if vllm_available() else "transformers") if backend == "auto" else backend


# ---------------------------------------------------------------- resumable output
class Partial:
    """Samples appended and fsynced batch by batch beside the output, so a killed job resumes where it stopped.

    The first line fingerprints the job's settings: a partial file left by a job with other settings is
    discarded, never mixed in. The complete output is still written atomically at the end."""

    def __init__(self, out: str | None = None, fingerprint: str = "", log=print):
        self.path, self.records = (Path(f"{out}.partial") if out else None), {}
        if self.path is None:  # in memory only (library calls)
            return
        lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []
        if lines and json.loads(lines[0]).get("fingerprint") == fingerprint:
            for line in lines[1:]:
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:  # the torn last line of a killed write
                    break
                self.records[(r["task_id"], r["sample"])] = r
            log(f"resuming: {len(self.records)} samples already in {self.path}")
        elif lines:
            log(f"{self.path}: left by a job with other settings, discarded")
        if not self.records:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8")

    def add(self, records: list[dict]):
        self.records.update(((r["task_id"], r["sample"]), r) for r in records)
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.writelines(dumps(r) + "\n" for r in records)
            f.flush()
            os.fsync(f.fileno())


# ---------------------------------------------------------------- main
def generate_samples(model: dict, bench: dict, partial: Partial | None = None, log=print) -> tuple[list[dict], dict]:
    """Sample records (task_id, sample, prompt, raw output, post-processed solution, engine) for one benchmark,
    in task order, and the run's figures."""
    tasks = eval_benchmarks.load_tasks(bench)
    settings = eval_benchmarks.generation_settings(bench)
    n, kind = settings.get("n", 1), eval_benchmarks.kind_of(bench)
    backend = pick_backend(model.get("backend", "transformers"))
    if backend == "openai":
        # A served chat model gets the bare instruction and answers with a fenced block of its own.
        for t in tasks:
            t["chat_reply"] = t["chat"]
            t["prompt"] = t["instruction"] if t["chat"] else t["prompt"]
    partial = partial or Partial()
    done = {(i, k) for i, t in enumerate(tasks) for k in range(n) if (t["task_id"], k) in partial.records}

    def keep(pairs, texts, engine):
        partial.add([{"task_id": tasks[i]["task_id"], "sample": k, "prompt": tasks[i]["prompt"], "raw": text,
                      "solution": eval_benchmarks.postprocess(bench, tasks[i], text), "engine": engine}
                     for (i, k), text in zip(pairs, texts)])

    prompts = [t["prompt"] for t in tasks]
    figures = {}
    if backend == "openai":
        raw = generate_openai(model["model"], prompts, settings, model, [t["chat"] for t in tasks])
        keep([(i, k) for i in range(len(tasks)) for k in range(n)], [s for outs in raw for s in outs], "openai")
    elif backend == "vllm":
        raw = generate_vllm(resolve_model(model["path"]), prompts, settings, model, kind)
        keep([(i, k) for i in range(len(tasks)) for k in range(n)], [s for outs in raw for s in outs], "vllm")
    else:
        figures = generate_transformers(resolve_model(model["path"]), prompts, settings, model, kind, done, keep, log)
    return [partial.records[(t["task_id"], k)] for t in tasks for k in range(n)], figures


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="JSON: backend, path or model, base_url, api_key_env, engine, ...")
    p.add_argument("--benchmark", required=True, help="JSON: the benchmark's config section (with its name)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    model, bench = json.loads(args.model), json.loads(args.benchmark)
    start = time.time()
    log = lambda m: print(m, flush=True)  # noqa: E731
    partial = Partial(args.out, hashlib.sha256(dumps([model, bench]).encode()).hexdigest(), log)
    try:
        records, figures = generate_samples(model, bench, partial, log)
    except (MissingCheckpoint, eval_benchmarks.UnknownBenchmark) as e:
        sys.exit(f"error: {e}")
    write_jsonl(args.out, records)
    partial.path.unlink()
    figures["wall_s"] = round(time.time() - start, 2)
    print(f"{len(records)} samples for {bench['benchmark']} in {figures['wall_s']:.1f}s -> {args.out}")
    print("figures: " + json.dumps(figures))


if __name__ == "__main__":
    main()
