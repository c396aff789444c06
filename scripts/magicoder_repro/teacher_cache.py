"""The teacher's response cache: an append-only JSONL file of `{"key", "request", "response"}` lines.

Every answer is appended, flushed and fsynced the moment it arrives, so `kill -9` loses only the
requests in flight and a rerun asks for nothing that completed. Several generate jobs (one per
language) may append to the same file at once: each append holds an exclusive `flock`. A process
killed mid-write leaves a torn last line; readers skip it with a warning, and the next append first
ends it with a newline so the torn bytes never glue onto a good record.

The same format is the replay file: a cache recorded by a real run can be replayed as it is.
"""
import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Iterable

from .jsonl import dumps

log = logging.getLogger(__name__)


def read_answers(paths: Iterable, wanted: set[str] | None = None) -> dict[str, dict]:
    """key -> response from cache/replay files; the first answer recorded for a key wins."""
    answers: dict[str, dict] = {}
    for path in paths:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                try:
                    entry = json.loads(raw)
                    key, response = entry["key"], entry["response"]
                except (ValueError, KeyError, TypeError):
                    if raw.strip():
                        log.warning("%s:%d: skipping an unreadable cache line (torn by a killed writer?)", path, lineno)
                    continue
                if (wanted is None or key in wanted) and key not in answers:
                    answers[key] = response
    return answers


class ResponseCache:
    """A directory of cache files: reads all `*.jsonl` in it, appends to `responses.jsonl`."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.path = self.dir / "responses.jsonl"
        self._fd: int | None = None

    def load(self, wanted: set[str]) -> dict[str, dict]:
        return read_answers(sorted(self.dir.glob("*.jsonl")), wanted) if self.dir.is_dir() else {}

    def append(self, key: str, request: dict, response: dict) -> None:
        self.append_many([(key, request, response)])

    def append_many(self, entries: list[tuple[str, dict, dict]]) -> None:
        """Append answers and make them durable with one fsync (a group commit: at 64 requests in
        flight, one fsync per answer would cap throughput at the disk's fsync rate)."""
        if self._fd is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        data = b"".join(
            (dumps({"key": key, "request": request, "response": response}) + "\n").encode("utf-8")
            for key, request, response in entries
        )
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(self._fd).st_size
            if size and os.pread(self._fd, 1, size - 1) != b"\n":
                data = b"\n" + data   # close a line torn by a writer that was killed
            os.write(self._fd, data)
            os.fsync(self._fd)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
