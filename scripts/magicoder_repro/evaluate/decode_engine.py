"""The `static` engine of eval_generate: a batch's rows decoded over one preallocated KV cache.

Why not transformers' `generate` with its static cache: that prefills a copy of the prompt for every one
of its n samples, attends over the whole allocated cache length at every step, sorts the whole vocabulary
for top-p at every step, and needs torch.compile (30-40 s a job, issue 18) to be fast. Here:
- each distinct prompt of a batch is prefilled once and its keys and values are copied to the rows of its
  samples;
- a decode step attends over a window: the positions written so far, rounded up to `window`;
- on a GPU each window's decode step is captured once as a CUDA graph and replayed (no compiler);
- top-p sorts only the `candidates` most likely tokens, which is exact whenever the nucleus lies inside
  them; rows where it does not are sorted in full.
Greedy tokens equal `generate`'s (tests/test_eval_generate.py). Sampling keeps `generate`'s law
(temperature, then the nucleus that TopPLogitsWarper keeps) with its own noise: Gumbel noise keyed by
(seed, prompt, sample, step, token), so a sample's tokens depend on its key and its logits alone, never on
its batch, its row or a resume.

`EVAL_DECODE_OPTIONS` (JSON, e.g. '{"graphs": false}') overrides `OPTIONS`: a tuning hook for
benchmarks/eval_generation.py; none of them changes what is sampled.
"""
import json
import os
import time

import torch

OPTIONS = {"window": 128, "graphs": True, "candidates": 64, "prefill_tokens": 8192, "attention": None}
ATTENTION = {"math": "MATH", "efficient": "EFFICIENT_ATTENTION", "cudnn": "CUDNN_ATTENTION"}  # SDPA kernels
MASK32 = 0xFFFFFFFF


def fmix(h):
    """murmur3's 32-bit finaliser on Python ints or int64 tensors (values kept below 2**32)."""
    h = h & MASK32
    h = h ^ (h >> 16)
    h = (h * 0x85EBCA6B) & MASK32
    h = h ^ (h >> 13)
    h = (h * 0xC2B2AE35) & MASK32
    return h ^ (h >> 16)


def combine(h, v):
    return fmix(h ^ fmix(v + 0x9E3779B9))


def sample_key(seed: int, prompt: int, sample: int) -> int:
    """The noise key of one sample: where the sample sits in a job does not enter."""
    return combine(combine(fmix(seed), prompt), sample)


def gumbel(keys: torch.Tensor, step: int, tokens: torch.Tensor) -> torch.Tensor:
    """Gumbel noise for each (row, token id) at one step; 24-bit uniforms, so bounded in [-2.9, 17.3]."""
    h = combine(combine(keys, step)[:, None], tokens)
    u = ((h >> 8).to(torch.float32) + 0.5) / 2**24
    return -(-u.log()).log()


def nucleus(x: torch.Tensor, top_p: float, k: int):
    """The `k` largest of each row of `x` (logits / temperature), sorted, with which of them the top-p
    nucleus keeps (a token is kept while the mass of the tokens before it is below top_p, as
    TopPLogitsWarper does), and whether each row's nucleus lies inside them."""
    k = min(k, x.shape[-1])
    values, ids = x.topk(k, dim=-1)
    probs = (values - x.logsumexp(-1, keepdim=True)).exp()
    mass = probs.cumsum(-1)
    complete = mass[:, -1] >= top_p if k < x.shape[-1] else torch.ones_like(mass[:, -1], dtype=torch.bool)
    return values, ids, mass - probs < top_p, complete


def pick(x: torch.Tensor, settings: dict, keys: torch.Tensor, step: int, candidates: int) -> tuple[torch.Tensor, int]:
    """The next token of every row (argmax when greedy, else a Gumbel-max draw from the nucleus), and how many
    rows needed the whole vocabulary sorted."""
    x = x.float()
    if not settings.get("temperature"):
        return x.argmax(-1), 0
    x = x / settings["temperature"]
    top_p = settings.get("top_p", 1.0)

    def draw(rows, k):
        values, ids, keep, complete = nucleus(x[rows], top_p, k)
        scores = (values + gumbel(keys[rows], step, ids)).masked_fill(~keep, float("-inf"))
        return ids.gather(1, scores.argmax(-1, keepdim=True))[:, 0], complete

    rows = torch.arange(len(x), device=x.device)
    tokens, complete = draw(rows, candidates)
    fallback = 0
    for k in (16 * candidates, x.shape[-1]):  # the exact fallback: more candidates, then the whole vocabulary
        if bool(complete.all()):
            break
        rows = rows[~complete]
        fallback += len(rows) * (k >= x.shape[-1])
        tokens[rows], complete = draw(rows, k)
    return tokens, fallback


class RowCache:
    """Keys and values of a batch's rows, in the part of transformers' Cache protocol that decoder layers use
    (`update`): a decode step writes position `pos` and reads the first `window` positions."""

    def __init__(self, config, batch: int, length: int, dtype, device):
        heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        shape = (batch, heads, length, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.num_hidden_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.num_hidden_layers)]
        self.pos = torch.zeros(1, dtype=torch.long, device=device)
        self.length, self.window = length, length

    def update(self, key, value, layer, *args, **kwargs):
        self.keys[layer].index_copy_(2, self.pos, key)
        self.values[layer].index_copy_(2, self.pos, value)
        return self.keys[layer][:, :, :self.window], self.values[layer][:, :, :self.window]

    def get_seq_length(self, layer=0):
        return 0  # positions always come as position_ids; some models ask for it regardless


class DecodeEngine:
    """One cache of `batch` rows x `length` positions, reused by every batch of a job (so graphs captured for
    one batch serve the next)."""

    def __init__(self, model, batch: int, length: int, pad_id: int, eos_ids, stats: dict | None = None):
        self.model, self.batch, self.pad_id = model, batch, pad_id
        self.options = {**OPTIONS, **json.loads(os.environ.get("EVAL_DECODE_OPTIONS") or "{}")}
        device = model.device
        self.cache = RowCache(model.config.get_text_config(), batch, length, model.dtype, device)
        self.eos = torch.tensor(sorted(eos_ids), dtype=torch.long, device=device)
        self.tokens = torch.zeros(batch, 1, dtype=torch.long, device=device)
        self.positions = torch.zeros(batch, 1, dtype=torch.long, device=device)
        self.mask = torch.zeros(batch, 1, 1, length, dtype=torch.bool, device=device)
        self.graphs = self.options["graphs"] and device.type == "cuda"
        self.captured, self.pool = {}, None
        self.stats = stats if stats is not None else {}
        for key in ("prefill_tokens", "prefill_s", "decode_s", "graphs", "fallback_rows"):
            self.stats.setdefault(key, 0)

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], sources: list[int], keys: list[int], settings: dict) -> list[list[int]]:
        """New tokens for each row; row r continues prompts[sources[r]] with noise key keys[r]."""
        rows, new = len(sources), settings["max_new_tokens"]
        sources = sources + [sources[-1]] * (self.batch - rows)  # the graphs' fixed batch: idle copies of a row
        width = max(len(prompts[s]) for s in set(sources))
        assert width + new <= self.cache.length + 1 and rows <= self.batch
        start = time.perf_counter()
        logits = self.prefill(prompts, sources, width)
        self.sync()
        decoding = time.perf_counter()
        self.stats["prefill_s"] += decoding - start
        device = self.tokens.device
        key_t = torch.tensor(keys + [0] * (self.batch - rows), dtype=torch.long, device=device)
        out = torch.full((self.batch, new), self.pad_id, dtype=torch.long, device=device)
        done = torch.arange(self.batch, device=device) >= rows
        for step in range(new):
            if step:
                self.cache.window = min(self.cache.length, -(-(width + step) // self.options["window"]) * self.options["window"])
                logits = self.decode_step()
            token, fallback = pick(logits, settings, key_t, step, self.options["candidates"])
            self.stats["fallback_rows"] += fallback
            token = token.masked_fill(done, self.pad_id)
            out[:, step] = token
            done |= torch.isin(token, self.eos)
            self.tokens.copy_(token[:, None])
            if step % 16 == 15 and bool(done.all()):
                break
        result = out[:rows].tolist()
        self.stats["decode_s"] += time.perf_counter() - decoding
        return result

    def prefill(self, prompts, sources, width):
        """Each distinct prompt once, in chunks of about `prefill_tokens`; keys and values copied to every row
        that continues it, left-padded to `width`. Returns each row's last logits."""
        distinct = sorted(set(sources))
        per_row = torch.tensor(sources, device=self.tokens.device)
        logits = torch.empty(self.batch, self.model.config.get_text_config().vocab_size, device=self.tokens.device)
        chunk = max(1, self.options["prefill_tokens"] // width)
        self.mask.zero_()
        for lo in range(0, len(distinct), chunk):
            part = distinct[lo:lo + chunk]
            w = max(len(prompts[s]) for s in part)
            ids = torch.tensor([[self.pad_id] * (w - len(prompts[s])) + prompts[s] for s in part], device=per_row.device)
            lengths = torch.tensor([len(prompts[s]) for s in part], device=per_row.device)
            mask = torch.arange(w, device=per_row.device)[None, :] >= (w - lengths)[:, None]
            positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
            out = self.model(input_ids=ids, attention_mask=mask.long(), position_ids=positions, use_cache=True,
                             logits_to_keep=1)
            self.stats["prefill_tokens"] += int(lengths.sum())
            # rows continuing this chunk's prompts, and each one's place in the chunk
            place = {s: j for j, s in enumerate(part)}
            dest = [r for r, s in enumerate(sources) if s in place]
            src = torch.tensor([place[sources[r]] for r in dest], device=per_row.device)
            dest = torch.tensor(dest, device=per_row.device)
            for layer, kv in enumerate(out.past_key_values.layers):
                self.cache.keys[layer][dest, :, width - w:width] = kv.keys[src]
                self.cache.values[layer][dest, :, width - w:width] = kv.values[src]
            self.mask[dest, 0, 0, width - w:width] = mask[src]
            self.positions[dest, 0] = lengths[src]
            logits[dest] = out.logits[src, -1].float()
        self.cache.pos.fill_(width)
        return logits

    def step(self):
        """One decode step over the buffers: writes position `pos`, advances it, returns the logits."""
        self.mask.index_fill_(3, self.cache.pos, True)
        with self.attention():
            logits = self.model(input_ids=self.tokens, attention_mask=self.mask[..., :self.cache.window],
                                position_ids=self.positions, past_key_values=self.cache, use_cache=True).logits[:, -1]
        self.cache.pos += 1
        self.positions += 1
        return logits

    def attention(self):
        """SDPA's kernel for decode steps: PyTorch's choice unless the `attention` option names one."""
        from contextlib import nullcontext

        from torch.nn.attention import SDPBackend, sdpa_kernel

        name = self.options["attention"]
        return sdpa_kernel(getattr(SDPBackend, ATTENTION[name])) if name else nullcontext()

    def decode_step(self):
        if not self.graphs:
            return self.step()
        window = self.cache.window
        if window not in self.captured:
            self.captured[window] = self.capture()
        graph, logits = self.captured[window]
        graph.replay()
        return logits

    def capture(self):
        """A CUDA graph of `step` for the current window, after one eager warm-up whose effects are undone."""
        state = [t.clone() for t in (self.cache.pos, self.positions, self.mask)]
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            self.step()
        torch.cuda.current_stream().wait_stream(stream)
        for t, saved in zip((self.cache.pos, self.positions, self.mask), state):
            t.copy_(saved)
        graph = torch.cuda.CUDAGraph()
        self.pool = self.pool or torch.cuda.graph_pool_handle()
        with torch.cuda.graph(graph, pool=self.pool):
            logits = self.step()
        self.stats["graphs"] += 1
        return graph, logits

    def sync(self):
        if self.tokens.device.type == "cuda":
            torch.cuda.synchronize()
