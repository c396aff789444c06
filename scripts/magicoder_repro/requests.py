"""The OSS-Instruct request for one seed, and the content hash that names it in the response cache.

The request body is exactly what is sent to a chat-completions endpoint, so the cache key changes
whenever anything that could change the answer changes (model, messages, sampling parameters), and
nothing else (concurrency, timeouts, retries) does.
"""
import hashlib
import json
from pathlib import Path


def render_prompt(template: str, code: str) -> str:
    """The user message: the template with `{code}` replaced (the template has other braces)."""
    return template.replace("{code}", code)


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
    messages = [
        {"role": "system", "content": teacher["system_prompt"]},
        {"role": "user", "content": render_prompt(template, seed)},
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
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_template(path) -> str:
    """The prompt template, byte for byte (the original has no trailing newline)."""
    return Path(path).read_text(encoding="utf-8")
