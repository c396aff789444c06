"""Instruction records -> token ids and labels, the way the original Magicoder training did it.

The prompt (system line, instruction, `@@ Response` header) is tokenised on its own with BOS (none
where the tokenizer has none), the response on its own with EOS; the two are concatenated and cut at
the maximum length, and the prompt's positions get label -100 so only the response and EOS are learned.
Tokenising the two parts apart (not the joined text) is what the original did; it fixes where the loss
starts.

Batches come in two layouts with the same loss: right-padded rows (the original) or one padding-free
row per batch whose sequences restart their positions (`DataCollatorWithFlattening`); the second spends
no compute on padding and, on GPUs, runs attention through a variable-length flash kernel.
"""
import inspect

import torch

from magicoder_repro.core.jsonl import iter_jsonl
from magicoder_repro.core.prompt_format import prompt

IGNORE_INDEX = -100


def encode(tokenizer, instruction: str, response: str, max_length: int) -> dict:
    """input_ids and labels of one record: [BOS] prompt | response [EOS], truncated; prompt labels -100."""
    bos = [] if tokenizer.bos_token_id is None else [tokenizer.bos_token_id]
    prompt_ids = bos + tokenizer(prompt(instruction), add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    input_ids = (prompt_ids + response_ids)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + response_ids)[:max_length]
    return {"input_ids": input_ids, "labels": labels}


def load_records(path) -> list[dict]:
    """The stage's records; a missing field or an empty file is an error naming the file."""
    records = []
    for i, record in enumerate(iter_jsonl(path), 1):
        for field in ("instruction", "response"):
            if not isinstance(record.get(field), str):
                raise ValueError(f"{path}: record {i} has no string field {field!r}")
        records.append(record)
    if not records:
        raise ValueError(f"{path}: no training records (empty dataset)")
    return records


def encode_records(tokenizer, records, max_length: int) -> list[dict]:
    return [encode(tokenizer, r["instruction"], r["response"], max_length) for r in records]


class PaddedCollator:
    """The original batches: rows right-padded to the longest in the batch, padding masked out."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features):
        width = max(len(f["input_ids"]) for f in features)
        ids, labels, mask = [], [], []
        for f in features:
            pad = width - len(f["input_ids"])
            ids.append(f["input_ids"] + [self.pad_token_id] * pad)
            labels.append(f["labels"] + [IGNORE_INDEX] * pad)
            mask.append([1] * len(f["input_ids"]) + [0] * pad)
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}


def packed_collator():
    """Padding-free batches: one row, positions restarting per record, cu_seqlens for varlen kernels."""
    from transformers import DataCollatorWithFlattening

    return DataCollatorWithFlattening(return_flash_attn_kwargs=True)


VARLEN_ATTENTION = "torch_varlen"


def _varlen_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Attention over packed records through PyTorch's own flash varlen kernel (no flash-attn package).

    Unpacked batches (no cu_seq_lens) fall back to SDPA, so generation and padded batches still work.
    """
    from torch.nn.attention.varlen import varlen_attn
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    cu_q, cu_k = kwargs.get("cu_seq_lens_q"), kwargs.get("cu_seq_lens_k")
    if cu_q is None:
        if attention_mask is not None:
            raise ValueError("torch_varlen attention takes packed batches (DataCollatorWithFlattening), not padded ones")
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # (tokens, heads, dim)
    causal = {"is_causal": True} if "is_causal" in inspect.signature(varlen_attn).parameters else {"window_size": (-1, 0)}
    if k.shape[1] != q.shape[1]:
        causal["enable_gqa"] = True
    out = varlen_attn(
        q, k, v, cu_q.to(torch.int32), cu_k.to(torch.int32), int(kwargs["max_length_q"]), int(kwargs["max_length_k"]),
        scale=scaling, **causal,
    )
    return out.unsqueeze(0), None  # (1, tokens, heads, dim), as the other attention functions return


def register_varlen_attention() -> str:
    """Make `attn_implementation="torch_varlen"` known to transformers; returns that name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, flash_attention_mask

    AttentionInterface.register(VARLEN_ATTENTION, _varlen_attention)
    AttentionMaskInterface.register(VARLEN_ATTENTION, flash_attention_mask)
    return VARLEN_ATTENTION
