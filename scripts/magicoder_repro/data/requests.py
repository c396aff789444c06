"""The teacher's requests (OSS-Instruct for a seed; tests for a record, execution_filter.py) and the
content hash that names each one in the response cache.

The request body is exactly what is sent to a chat-completions endpoint, so the cache key changes
whenever anything that could change the answer changes (model, messages, sampling parameters), and
nothing else (concurrency, timeouts, retries) does.
"""
import hashlib
import re
from pathlib import Path

from magicoder_repro.core.jsonl import dumps

FIELD = re.compile(r"\{(\w+)\}")


def render_prompt(template: str, **fields: str) -> str:
    """The user message: each `{name}` of `fields` replaced in one pass (the template has other braces,
    and a replaced text is not searched again, so a `{lang}` in a solution stays as it is)."""
    return FIELD.sub(lambda m: fields.get(m[1], m[0]), template)


def count_prompt_tokens(prompt: str, counter: str | None) -> int | None:
    """Prompt length as the original counted it: the user message only (the system message and chat
    framing fall inside its 10-token error margin), with gpt-3.5-turbo's tiktoken encoding; or None."""
    if counter is None:
        return None
    if counter == "tiktoken":
        import tiktoken

        return len(tiktoken.get_encoding("cl100k_base").encode(prompt))
    raise ValueError(f"unknown token_counter {counter!r}")


def build_request(seed: str, index: int, teacher: dict, template: str) -> dict | None:
    """The chat-completions body for seed number `index`; None if the prompt leaves no room to answer."""
    return chat_request(render_prompt(template, code=seed), index, teacher)


def chat_request(prompt: str, index: int, teacher: dict) -> dict | None:
    """The body asking the teacher `prompt` for example `index` (its seed); None if no room is left."""
    messages = [
        {"role": "system", "content": teacher["system_prompt"]},
        {"role": "user", "content": prompt},
    ]
    max_tokens = teacher["max_tokens"]
    prompt_tokens = count_prompt_tokens(messages[1]["content"], teacher.get("token_counter"))
    if prompt_tokens is not None:
        max_tokens = min(max_tokens, teacher.get("context_window", 8192) - prompt_tokens - 10)
        if max_tokens <= 0:
            return None
    request = {
        "model": teacher["model"],
        "messages": messages,
        "temperature": teacher["temperature"],
        "max_tokens": max_tokens,
        "n": 1,
    }
    if teacher.get("seed_offset") is not None:
        request["seed"] = teacher["seed_offset"] + index
    return request


def request_key(request: dict) -> str:
    """sha256 of the canonical JSON of the request body."""
    canonical = dumps(request, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_template(path) -> str:
    """The prompt template, byte for byte (the original has no trailing newline)."""
    return Path(path).read_text(encoding="utf-8")
