"""JSONL reading and writing shared by every stage.

Reads name the file and line of a corrupt record (so a user can fix the data), and writes go to a
temporary file renamed into place, so a crash never leaves a half-written output that Snakemake
would take as complete.
"""
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator


class CorruptRecord(ValueError):
    """A JSONL line that is not a JSON object; the message names file and line."""


def iter_jsonl(path) -> Iterator[dict]:
    for _, record in numbered_jsonl(path):
        yield record


def numbered_jsonl(path) -> Iterator[tuple[int, dict]]:
    """(line number, record) pairs, for errors that name the line of a bad record."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorruptRecord(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise CorruptRecord(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
            yield lineno, record


def read_jsonl(path) -> list[dict]:
    return list(iter_jsonl(path))


def dumps(record) -> str:
    """One canonical line: stable key order and no ASCII escaping, so equal data gives equal bytes."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


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
        json.dump(obj, f, ensure_ascii=False, sort_keys=True, indent=2)
        f.write("\n")


def add_filter_arguments(parser) -> None:
    """The files of every filtering stage: one input, what it keeps, what it removes (with why), a summary."""
    for name in ("input", "kept", "removed", "summary"):
        parser.add_argument(f"--{name}", required=True)


def write_filter_outputs(kept_path, kept, removed_path, removed, summary_path, summary) -> None:
    write_jsonl(kept_path, kept)
    write_jsonl(removed_path, removed)
    write_json(summary_path, summary)
