"""Near-duplicate removal over OSS-Instruct records with MinHash LSH (datasketch).

The original dropped only exact repeats (clean.py). A teacher asked about similar seeds often writes
the same problem with different names or wording, and those copies over-weight one task in training.
Each record becomes a set of word shingles; records whose estimated Jaccard similarity reaches the
threshold are near-duplicates. Records are visited in file order (clean.py's seeded shuffle), and a
record is dropped when an earlier kept record is a near-duplicate, so the outcome is deterministic.
LSH only proposes candidates; each candidate is confirmed with the MinHash Jaccard estimate.
"""
import argparse
import json
import re
import sys
import zlib
from collections import Counter

from datasketch import MinHash, MinHashLSH

from magicoder_repro.core.jsonl import add_filter_arguments, iter_jsonl, write_filter_outputs
from magicoder_repro.core.errors import one_line_errors

TOKEN = re.compile(r"\w+|[^\w\s]")
EXAMPLES = 10


def shingles(text: str, size: int) -> set[bytes]:
    """Lowercased token `size`-grams; a text shorter than `size` tokens is one shingle."""
    tokens = TOKEN.findall(text.lower())
    if len(tokens) <= size:
        return {" ".join(tokens).encode()}
    return {" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)}


def record_id(record: dict, position: int) -> str:
    """`lang/index` when the record has them (OSS-Instruct records do), else its position in the file."""
    if "lang" in record and "index" in record:
        return f"{record['lang']}/{record['index']}"
    return str(position)


def signatures(texts: list[str], shingle_size: int, num_perm: int, seed: int) -> list[MinHash]:
    # crc32 instead of datasketch's default sha1: a 32-bit hash is all MinHash needs, and it is 4x faster.
    return MinHash.bulk((shingles(t, shingle_size) for t in texts), num_perm=num_perm, seed=seed, hashfunc=zlib.crc32)


def near_dedup(records: list[dict], columns: list[str], threshold: float, num_perm: int, shingle_size: int, seed: int = 1):
    """Kept records, and removed ones annotated with the kept record they duplicate and the estimate."""
    texts = ["\n\n".join(r[c] for c in columns) for r in records]
    sigs = signatures(texts, shingle_size, num_perm, seed)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept, removed, kept_sig = [], [], {}
    for position, (record, sig) in enumerate(zip(records, sigs)):
        rid = record_id(record, position)
        best = max(((sig.jaccard(kept_sig[k]), k) for k in lsh.query(sig)), default=(0.0, None))
        if best[1] is not None and best[0] >= threshold:
            removed.append({**record, "id": rid, "near_duplicate_of": best[1], "jaccard": round(best[0], 4)})
            continue
        if rid in kept_sig:
            raise ValueError(f"two records share the id {rid}")
        lsh.insert(rid, sig)
        kept_sig[rid] = sig
        kept.append(record)
    return kept, removed


def summarise(settings, records, kept, removed, columns) -> dict:
    """Counts and examples for the report; every removal here is one exact dedup (clean.py) missed."""
    by_id = {record_id(r, i): r for i, r in enumerate(records)}
    examples = [
        {
            "removed": r["id"],
            "duplicate_of": r["near_duplicate_of"],
            "jaccard": r["jaccard"],
            "removed_problem": r.get("problem", "")[:300],
            "kept_problem": by_id[r["near_duplicate_of"]].get("problem", "")[:300],
        }
        for r in removed[:EXAMPLES]
    ]
    return {
        "method": "minhash-lsh",
        "settings": settings,
        "columns": columns,
        "input": len(records),
        "kept": len(kept),
        "removed": len(removed),
        "removed_per_lang": dict(sorted(Counter(r.get("lang", "unknown") for r in removed).items())),
        "missed_by_exact_dedup": len(removed),
        "examples": examples,
    }


def run(input_path, settings: dict, kept_path, removed_path, summary_path) -> dict:
    columns = settings.get("columns", ["problem", "solution"])
    records = list(iter_jsonl(input_path))
    for i, record in enumerate(records):
        missing = [c for c in columns if not isinstance(record.get(c), str)]
        if missing:
            raise ValueError(f"{input_path}: record {i + 1} has no text field(s) {missing}")
    kept, removed = near_dedup(
        records, columns, settings["threshold"], settings["num_perm"], settings["shingle_size"], settings.get("seed", 1)
    )
    summary = summarise(settings, records, kept, removed, columns)
    write_filter_outputs(kept_path, kept, removed_path, removed, summary_path, summary)
    return summary


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", required=True, help="curation.near_dedup as JSON")
    add_filter_arguments(p)
    a = p.parse_args(argv)
    summary = run(a.input, json.loads(a.settings), a.kept, a.removed, a.summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "examples"}, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
