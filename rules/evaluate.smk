# Evaluation (magicoder.md §5): for every model x benchmark in `evaluation`, samples first
# (eval_generate: the model runs, nothing is executed), then the sandboxed score with its harness
# self-check (eval_score). Rescoring never regenerates: scoring-only settings reach eval_score alone.
# Config lookups (eval_model, eval_benchmark, eval_model_input) are in common.smk.


wildcard_constraints:
    model=r"[^/]+",
    benchmark=r"[^/.]+",


rule eval_generate:
    input:
        eval_model_input,
    output:
        f"{RESULTS}/eval/{{model}}/{{benchmark}}.samples.jsonl",
    params:
        model=lambda wildcards: as_json(eval_model(wildcards.model)),
        benchmark=lambda wildcards: as_json(eval_benchmark(wildcards.benchmark, keep_scoring=False)),
        compile_cache=f"{CACHE}/torch-compile",  # shared by every job and run: only the first compile is paid
    resources:
        gpus=lambda wildcards: int(eval_model(wildcards.model).get("gpus", 0)),
    log:
        f"{RESULTS}/logs/eval/{{model}}/{{benchmark}}.generate.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval/{{model}}/{{benchmark}}.generate.tsv"
    shell:
        "python -m magicoder_repro.eval_generate --model {params.model:q} --benchmark {params.benchmark:q} "
        "--compile-cache {params.compile_cache:q} --out {output:q} > {log:q} 2>&1"


rule eval_score:
    input:
        samples=f"{RESULTS}/eval/{{model}}/{{benchmark}}.samples.jsonl",
    output:
        f"{RESULTS}/eval/{{model}}/{{benchmark}}.json",
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
