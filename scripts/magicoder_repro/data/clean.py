"""Exact dedup of OSS-Instruct records across languages, as Magicoder's clean_data.py did it.

All languages are concatenated (config order), shuffled with Python's `random` seeded with
`curation.shuffle_seed` (666), then a record is dropped if its seed, problem or solution, with all
whitespace removed, was already seen in an earlier kept record. The shuffle decides which copy of a
duplicate survives, so it is reproduced with the same mechanism (`random.seed`, `random.shuffle`).
"""
import argparse
import json
import random
import sys
from collections import Counter

from magicoder_repro.core.jsonl import iter_jsonl, write_json, write_jsonl
from magicoder_repro.core.errors import one_line_errors

FIELDS = ("seed", "problem", "solution")


def squeeze(text: str) -> str:
    """The text with every whitespace character removed (str.split's definition of whitespace)."""
    return "".join(text.split())


def dedup(records: list[dict]) -> tuple[list[dict], Counter]:
    """Records whose seed, problem and solution are all unseen so far; counts of drops per field."""
    seen = {f: set() for f in FIELDS}
    kept, dropped = [], Counter()
    for record in records:
        keys = {f: squeeze(record[f]) for f in FIELDS}
        repeated = next((f for f in FIELDS if keys[f] in seen[f]), None)
        if repeated:
            dropped[f"duplicate {repeated}"] += 1
            continue
        kept.append(record)
        for f in FIELDS:
            seen[f].add(keys[f])
    return kept, dropped


def load(paths: list[str]) -> list[dict]:
    records = []
    for path in paths:
        for lineno, record in enumerate(iter_jsonl(path), 1):
            missing = [f for f in FIELDS if not isinstance(record.get(f), str)]
            if missing:
                raise ValueError(f"{path}: record {lineno} has no text field(s) {missing}")
            records.append(record)
    return records


def clean(paths: list[str], shuffle_seed: int) -> tuple[list[dict], dict]:
    records = load(paths)
    random.seed(shuffle_seed)
    random.shuffle(records)
    kept, dropped = dedup(records)
    stats = {
        "shuffle_seed": shuffle_seed,
        "input": len(records),
        "kept": len(kept),
        "dropped": dict(sorted(dropped.items())),
        "kept_per_lang": dict(sorted(Counter(r.get("lang", "unknown") for r in kept).items())),
    }
    return kept, stats


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", nargs="+", required=True, help="per-language record files, in config order")
    p.add_argument("--shuffle-seed", type=int, required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--stats", required=True)
    a = p.parse_args(argv)
    kept, stats = clean(a.inputs, a.shuffle_seed)
    write_jsonl(a.output, kept)
    write_json(a.stats, stats)
    print(json.dumps(stats, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
