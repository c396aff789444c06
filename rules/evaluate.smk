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
        hub=lambda w: staged_model(eval_model(w.model).get("path")) + staged_dataset(eval_benchmark(w.benchmark)),
    output:
        f"{RESULTS}/eval/{{model}}/{{benchmark}}.samples.jsonl",
    params:
        model=lambda wildcards: as_json(eval_model(wildcards.model)),
        benchmark=lambda wildcards: as_json(eval_benchmark(wildcards.benchmark, keep_scoring=False)),
        image=image_param("eval"),
    log:
        f"{RESULTS}/logs/eval/{{model}}/{{benchmark}}.generate.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval/{{model}}/{{benchmark}}.generate.tsv"
    container:
        container_image("eval_generate", "eval")
    threads: 2
    resources:
        # The model's GPUs (evaluation.models.<name>.gpus), and host memory to load its weights.
        **gpu_resources("eval_generate", eval_gpus),
        mem_mb=lambda wildcards: 4000 + 32000 * eval_gpus(wildcards),
        runtime=lambda wildcards: 60 + 180 * (eval_gpus(wildcards) > 0),
        **docker_shell("eval_generate", "eval", gpus=eval_gpus),
    shell:
        "python -m magicoder_repro.evaluate.generate --model {params.model:q} --benchmark {params.benchmark:q} "
        "--out {output:q} > {log:q} 2>&1"


rule eval_score:
    input:
        samples=f"{RESULTS}/eval/{{model}}/{{benchmark}}.samples.jsonl",
        hub=lambda w: staged_dataset(eval_benchmark(w.benchmark)),
    output:
        f"{RESULTS}/eval/{{model}}/{{benchmark}}.json",
    params:
        benchmark=lambda wildcards: as_json(eval_benchmark(wildcards.benchmark)),
        sandbox=as_json(config.get("evaluation", {}).get("sandbox", {"runtime": "bwrap"})),
        model=lambda wildcards: as_json(eval_model(wildcards.model)),
        image=image_param("eval"),
    log:
        f"{RESULTS}/logs/eval/{{model}}/{{benchmark}}.score.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval/{{model}}/{{benchmark}}.score.tsv"
    group:
        "score"
    container:
        container_image("eval_score", "eval", needs=scoring_needs)
    # One CPU per scoring worker (evaluation.benchmarks.<name>.parallel): the job gets that many cores.
    threads: lambda wildcards: eval_benchmark(wildcards.benchmark).get("parallel", 2)
    resources:
        **docker_shell("eval_score", "eval", sandbox=True, needs=scoring_needs),
    shell:
        "python -m magicoder_repro.evaluate.score --benchmark {params.benchmark:q} --sandbox {params.sandbox:q} "
        "--model {params.model:q} --samples {input.samples:q} --out {output:q} > {log:q} 2>&1"
