# Evaluation (magicoder.md §5): for every model x benchmark in `evaluation`, samples first
# (eval_generate: the model runs, nothing is executed), then the sandboxed score with its harness
# self-check (eval_score). Rescoring never regenerates: scoring-only settings reach eval_score alone.
from pathlib import Path

EVAL_DIR = f"{RESULTS}/eval"
OWN_MODELS = {"base": base_model, "stage1": lambda: checkpoint_dir("stage1"), "stage2": lambda: checkpoint_dir("stage2")}
SCORING_KEYS = ("parallel", "min_time_limit", "timeout_s")  # change the score's run, not the samples


wildcard_constraints:
    model=r"[^/]+",
    benchmark=r"[^/.]+",


def eval_model(name):
    """A model's config: shared generation settings overlaid by its own; `path` resolved to a directory."""
    models = config["evaluation"]["models"]
    if name not in models:
        raise ValueError(f"unknown evaluation model {name!r}; configured: {', '.join(models)}")
    spec = {**config["evaluation"].get("generation", {}), **models[name], "name": name}
    if spec.get("path") in OWN_MODELS:
        spec["path"] = OWN_MODELS[spec["path"]]()
    return spec


def eval_benchmark(name, keep_scoring=True):
    benchmarks = config["evaluation"]["benchmarks"]
    if name not in benchmarks:
        raise ValueError(f"unknown benchmark {name!r}; configured: {', '.join(benchmarks)}")
    bench = {**benchmarks[name], "benchmark": name}
    return bench if keep_scoring else {k: v for k, v in bench.items() if k not in SCORING_KEYS}


def eval_model_input(wildcards):
    """The checkpoint as a file dependency when this workflow builds it or it is a local directory."""
    spec = eval_model(wildcards.model)
    path = spec.get("path")
    if spec.get("backend") == "openai" or path is None:
        return []
    return [path] if path in (TINY_BASE_MODEL, checkpoint_dir("stage1"), checkpoint_dir("stage2")) or Path(path).exists() else []


rule eval_generate:
    input:
        eval_model_input,
    output:
        f"{EVAL_DIR}/{{model}}/{{benchmark}}.samples.jsonl",
    params:
        model=lambda wildcards: as_json(eval_model(wildcards.model)),
        benchmark=lambda wildcards: as_json(eval_benchmark(wildcards.benchmark, keep_scoring=False)),
    resources:
        gpus=lambda wildcards: int(eval_model(wildcards.model).get("gpus", 0)),
    log:
        f"{RESULTS}/logs/eval/{{model}}/{{benchmark}}.generate.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval/{{model}}/{{benchmark}}.generate.tsv"
    shell:
        "python -m magicoder_repro.eval_generate --model {params.model:q} --benchmark {params.benchmark:q} "
        "--out {output:q} > {log:q} 2>&1"


rule eval_score:
    input:
        samples=f"{EVAL_DIR}/{{model}}/{{benchmark}}.samples.jsonl",
    output:
        f"{EVAL_DIR}/{{model}}/{{benchmark}}.json",
    params:
        benchmark=lambda wildcards: as_json(eval_benchmark(wildcards.benchmark)),
        sandbox=as_json(config.get("evaluation", {}).get("sandbox", {"runtime": "bwrap"})),
        model=lambda wildcards: as_json(eval_model(wildcards.model)),
    log:
        f"{RESULTS}/logs/eval/{{model}}/{{benchmark}}.score.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval/{{model}}/{{benchmark}}.score.tsv"
    shell:
        "python -m magicoder_repro.eval_score --benchmark {params.benchmark:q} --sandbox {params.sandbox:q} "
        "--model {params.model:q} --samples {input.samples:q} --out {output:q} > {log:q} 2>&1"
