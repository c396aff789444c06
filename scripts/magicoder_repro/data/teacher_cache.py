"""The teacher's response cache: an append-only JSONL file of `{"key", "request", "response"}` lines.

Every answer is appended, flushed and fsynced the moment it arrives, so `kill -9` loses only the
requests in flight and a rerun asks for nothing that completed. Several generate jobs (one per
language) may append to the same file at once: each append holds an exclusive `flock`. A process
killed mid-write leaves a torn last line; readers skip it with a warning, and the next append first
ends it with a newline so the torn bytes never glue onto a good record.

The same format is the replay file: a cache recorded by a real run can be replayed as it is.
Every answer read is checked for the shape parse.py relies on (choices[0].message): an entry that
lacks it (hand-edited, written by another program) is reported with its file, line and key, never
used; generate.py then asks again or stops (teacher.invalid_cache_entries).
"""
import fcntl
import json
import os
from pathlib import Path
from typing import Iterable, NamedTuple

from magicoder_repro.core.jsonl import dumps


class Unusable(NamedTuple):
    """A cache or replay line that gives no answer: torn or not JSON (key None), or a wrong shape."""
    path: str
    line: int
    key: str | None
    reason: str

    def __str__(self):
        return f"{self.path}:{self.line}: {self.reason}" + (f" (request key {self.key[:16]})" if self.key else "")


def response_problem(response) -> str | None:
    """Why `response` is not a chat completion parse.py can read, or None."""
    if not isinstance(response, dict):
        return f"the response is a JSON {type(response).__name__}, not an object"
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices:
        return "the response has no choices"
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("content"), (str, type(None))):
        return "choices[0] has no message with a text content"
    return None


def read_answers(paths: Iterable, wanted: set[str] | None = None) -> tuple[dict[str, dict], list[Unusable]]:
    """key -> response from cache/replay files (the first usable answer for a key wins), and the lines
    that gave none: torn or unreadable ones, and wrong-shaped answers to keys still unanswered."""
    answers: dict[str, dict] = {}
    unusable: list[Unusable] = []
    for path in paths:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                try:
                    entry = json.loads(raw)
                    key, response = entry["key"], entry["response"]
                except (ValueError, KeyError, TypeError):
                    if raw.strip():
                        unusable.append(Unusable(str(path), lineno, None, "not a {key, request, response} JSON line (torn by a killed writer?)"))
                    continue
                if (wanted is not None and key not in wanted) or key in answers:
                    continue
                problem = response_problem(response)
                if problem:
                    unusable.append(Unusable(str(path), lineno, key, problem))
                else:
                    answers[key] = response
    return answers, [u for u in unusable if u.key not in answers]


class ResponseCache:
    """A directory of cache files: reads all `*.jsonl` in it, appends to `filename` (responses.jsonl)."""

    def __init__(self, directory, filename="responses.jsonl"):
        self.dir = Path(directory)
        self.path = self.dir / filename
        self._fd: int | None = None

    def load(self, wanted: set[str]) -> tuple[dict[str, dict], list[Unusable]]:
        return read_answers(sorted(self.dir.glob("*.jsonl")), wanted) if self.dir.is_dir() else ({}, [])

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
