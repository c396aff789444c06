"""A static-embedding prefilter for semantic decontamination: a cheap cosine that decides which records
the full sentence-embedding model has to judge.

MiniLM embeds 20-50 problems a second on 2 CPU cores, hours for an OSS-Instruct-sized set. A model2vec
static model distilled from the same MiniLM (each vocabulary token embedded once, PCA, frequency
weights) embeds a problem as the mean of its tokens' vectors, thousands a second. Only records whose
static cosine to some benchmark problem reaches `prefilter.threshold` are embedded with the full model
and judged with the stage's real threshold; the others are kept unjudged. The static cosine is a much
rougher measure (on OSS-Instruct-like problems it runs ~0.3 above MiniLM's), so the prefilter threshold
sits well below the real one. At 0.6 it dropped none of the records MiniLM flags in the
calibration of benchmarks/semantic_prefilter.py, but it also passes on most unrelated problems, so on
a CPU it saves little (BENCHMARKS.md): the price of losing nothing.

Distillation is a Snakemake job of its own (rule static_embedding_model, output under results/models/)
rather than a cache the stage fills: Snakemake then reruns it only when `model` or `pca_dims` change
(a new threshold reuses it), it has its own log and runtime, the stage lists it as an input, and no
state lives outside results/ to go stale or be raced for by concurrent jobs.
"""
import argparse
import functools
import json

import numpy as np

METHODS = ("model2vec",)


def distill(model_path: str, pca_dims: int | None, output: str) -> None:
    """Distil a static model from a local sentence-transformers directory (no Hub access: the model
    and tokenizer are loaded with local_files_only and handed to model2vec)."""
    from model2vec.distill import distill_from_model
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(model_path, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True, use_fast=True)
    distill_from_model(model=model, tokenizer=tokenizer, pca_dims=pca_dims, device="cpu").save_pretrained(output)


@functools.lru_cache(maxsize=2)
def load(path: str):
    from model2vec import StaticModel

    return StaticModel.from_pretrained(path)


def embed(model, texts: list[str], max_length: int) -> np.ndarray:
    """Unit-length float32 rows; `max_length` tokens, the window the full model sees."""
    vectors = np.asarray(model.encode(texts, max_length=max_length), dtype=np.float32).reshape(len(texts), -1)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def main(argv=None):
    p = argparse.ArgumentParser(description="Distil the static prefilter model of semantic decontamination.")
    p.add_argument("--settings", required=True, help='{"model": semantic_decontamination.model, "pca_dims": ...} as JSON')
    p.add_argument("--output", required=True, help="directory to write the static model to")
    a = p.parse_args(argv)
    from magicoder_repro.semantic_decontaminate import model_path  # not at the top: that module imports this one

    settings = json.loads(a.settings)
    distill(model_path(settings["model"]), settings["pca_dims"], a.output)


if __name__ == "__main__":
    main()
