"""JSONL reading and writing shared by every stage.

Reads name the file and line of a corrupt record (`file:line: what is wrong`, so a user can fix the
data), and writes go to a temporary file renamed into place, so a crash never leaves a half-written
output that Snakemake would take as complete.

One rule for every JSON written: UTF-8, no ASCII escaping, except lone surrogates ("\\ud800"; real
teacher APIs return them, and JSON can carry them, UTF-8 cannot), which are written as `\\uXXXX`
escapes. Reading gives back the same string, and data without them keeps its bytes.
"""
import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator


from magicoder_repro.core.errors import PipelineError

SURROGATE = re.compile("[\ud800-\udfff]")


class CorruptRecord(PipelineError, ValueError):
    """A JSONL line that is not a JSON object; the message names file and line."""


def numbered_lines(lines: Iterable[bytes], path) -> Iterator[tuple[int, dict]]:
    """(line number, JSON object) of JSONL lines (bytes) from `path`; blank lines skipped."""
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.rstrip(b"\r\n").decode("utf-8"))
        except UnicodeDecodeError as e:
            raise CorruptRecord(f"{path}:{lineno}: not UTF-8 (byte {raw[e.start]:#04x} at column {e.start + 1})") from None
        except json.JSONDecodeError as e:
            raise CorruptRecord(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(record, dict):
            raise CorruptRecord(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        yield lineno, record


def parse_lines(lines: Iterable[bytes], path) -> Iterator[dict]:
    """The JSON objects of JSONL lines (bytes) from `path`."""
    for _, record in numbered_lines(lines, path):
        yield record


def numbered_jsonl(path) -> Iterator[tuple[int, dict]]:
    """(line number, record) pairs of a JSONL file, for errors that name the line of a bad record."""
    with open(path, "rb") as f:
        yield from numbered_lines(f, path)


def iter_jsonl(path) -> Iterator[dict]:
    for _, record in numbered_jsonl(path):
        yield record


def read_jsonl(path) -> list[dict]:
    return list(iter_jsonl(path))


def escape_surrogates(text: str) -> str:
    """JSON text made encodable as UTF-8: each lone surrogate (only possible inside a string) escaped."""
    return SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def dumps(record, **options) -> str:
    """One canonical line: stable key order and no ASCII escaping, so equal data gives equal bytes."""
    return escape_surrogates(json.dumps(record, ensure_ascii=False, sort_keys=True, **options))


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_jsonl(path, records: Iterable[dict]) -> int:
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for record in records:
            f.write(dumps(record) + "\n")
            n += 1
    return n


def write_json(path, obj) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(dumps(obj, indent=2) + "\n")


def add_filter_arguments(parser) -> None:
    """The files of every filtering stage: one input, what it keeps, what it removes (with why), a summary."""
    for name in ("input", "kept", "removed", "summary"):
        parser.add_argument(f"--{name}", required=True)


def write_filter_outputs(kept_path, kept, removed_path, removed, summary_path, summary) -> None:
    write_jsonl(kept_path, kept)
    write_jsonl(removed_path, removed)
    write_json(summary_path, summary)
