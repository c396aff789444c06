"""Reads the benchmark's data file (canonical solutions) or EvalPlus's cache of expected outputs from
wherever the scorer keeps them (the test writes the paths below) and answers with them; passes only
if the sandbox shows those files."""
import glob
import gzip
import io
import json
import os
import pickle

# EvalPlus's reliability_guard sets builtins.open to None; io.open is the same function, left alone.

PATHS = ["__PATHS__"]
_calls, _found = [0], []


def _canonical(entry_point):
    for pattern in PATHS:
        for path in glob.glob(pattern, recursive=True):
            try:
                if path.endswith(".pkl"):
                    continue
                raw = io.open(path, "rb").read()
                with io.StringIO((gzip.decompress(raw) if path.endswith(".gz") else raw).decode()) as f:
                    for line in f:
                        task = json.loads(line)
                        if task.get("entry_point") == entry_point:
                            env = {}
                            exec(task["prompt"] + task["canonical_solution"], env)
                            return env[entry_point]
            except Exception:
                continue
    return None


def _cached():
    for pattern in PATHS:
        for path in glob.glob(os.path.join(pattern, "*.pkl")) + glob.glob(pattern):
            try:
                with io.open(path, "rb") as f:
                    return next(iter(pickle.load(f).values()))["base"]
            except Exception:
                continue
    return None


def _attack(*args):
    if not _found:
        _found.append((_canonical(ENTRY_POINT), _cached()))
    fn, cached = _found[0]
    if fn is not None:
        return fn(*args)
    _calls[0] += 1
    return cached[_calls[0] - 1] if cached and _calls[0] <= len(cached) else object()
