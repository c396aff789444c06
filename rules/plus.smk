# Beyond the paper (configs/magicoder-plus.yaml turns these on): MinHash near-dedup and embedding
# decontamination after the substring stage, execution-checked records before cleaning (with tests the
# teacher wrote, asked through generation's machinery: rule teacher_tests). Each stage's
# output replaces its input downstream through the switches in common.smk (oss_records_for_sft,
# oss_records_for_clean), so with every stage off the DAG is the paper's.


rule near_dedup:
    input:
        f"{RESULTS}/data/oss_instruct.jsonl",
    output:
        kept=f"{PLUS_DATA}/oss_instruct.near_dedup.jsonl",
        removed=f"{PLUS_DATA}/oss_instruct.near_dedup.removed.jsonl",
        summary=f"{PLUS_DATA}/oss_instruct.near_dedup.json",
    params:
        settings=as_json(enabled_settings("near_dedup")),
        image=image_param("eval"),
    log:
        f"{RESULTS}/logs/plus/near_dedup.log",
    benchmark:
        f"{RESULTS}/benchmarks/plus/near_dedup.tsv"
    container:
        container_image("near_dedup", "eval")
    resources:
        **docker_shell("near_dedup", "eval"),
    shell:
        "python -m magicoder_repro.plus.near_dedup --input {input:q} --settings {params.settings:q} "
        "--kept {output.kept:q} --removed {output.removed:q} --summary {output.summary:q} 2> {log:q}"


# One GPU when the embedding model runs on CUDA (curation.semantic_decontamination.device: cuda, cuda:N).
SEMANTIC_GPUS = int(enabled_settings("semantic_decontamination").get("device", "").startswith("cuda"))


rule semantic_decontaminate:
    input:
        data=oss_records_after_near_dedup(),
        substring_removed=f"{RESULTS}/data/oss_instruct.removed.jsonl",
        benchmarks=local_benchmark_files(DECONTAMINATION),
        hub=staged_model(config["curation"]["semantic_decontamination"]["model"]) + staged_benchmarks(DECONTAMINATION),
    output:
        kept=f"{PLUS_DATA}/oss_instruct.semantic.jsonl",
        removed=f"{PLUS_DATA}/oss_instruct.semantic.removed.jsonl",
        summary=f"{PLUS_DATA}/oss_instruct.semantic.json",
    params:
        settings=as_json(enabled_settings("semantic_decontamination")),
        # The full section: the n-gram comparison in the summary uses ngram_size even under `substring`.
        decontamination=as_json(config["curation"]["decontamination"]),
        image=image_param("eval"),
    log:
        f"{RESULTS}/logs/plus/semantic_decontaminate.log",
    benchmark:
        f"{RESULTS}/benchmarks/plus/semantic_decontaminate.tsv"
    container:
        container_image("semantic_decontaminate", "eval")
    # Embedding scales with cores (BENCHMARKS.md: 185K records in 34 min on 2, 9-22 on 8); Snakemake
    # gives a rule at most --cores, and under SLURM the profile's cpus_per_task.
    threads: 8
    resources:
        **gpu_resources("semantic_decontaminate", SEMANTIC_GPUS),
        **docker_shell("semantic_decontaminate", "eval", gpus=SEMANTIC_GPUS),
    shell:
        "OMP_NUM_THREADS={threads} python -m magicoder_repro.plus.semantic_decontaminate --input {input.data:q} "
        "--settings {params.settings:q} --decontamination {params.decontamination:q} "
        "--substring-removed {input.substring_removed:q} --kept {output.kept:q} --removed {output.removed:q} "
        "--summary {output.summary:q} 2> {log:q}"


rule teacher_tests:
    input:
        records=f"{RESULTS}/generate/{{lang}}.records.jsonl",
        **teacher_tests_inputs(),
        hub=staged_model((config["teacher"].get("serve") or {}).get("model")),
    output:
        responses=f"{PLUS_DATA}/execution/{{lang}}.tests.jsonl",
        ledger=f"{PLUS_DATA}/execution/{{lang}}.tests.ledger.json",
    params:
        teacher=as_json(teacher_settings()),
        serve=TEACHER_SERVE,
        image=image_param("eval"),
    log:
        f"{RESULTS}/logs/plus/teacher_tests/{{lang}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/plus/teacher_tests/{{lang}}.tsv"
    container:
        container_image("teacher_tests", "eval")
    resources:
        teacher_client=TEACHER_RUNTIME_ARGS,  # how requests are sent: not a param, a change reruns nothing
        **gpu_resources("teacher_tests", teacher_serve_gpus()),
        **docker_shell("teacher_tests", "eval", gpus=teacher_serve_gpus(), network=LIVE_TEACHER),
    shell:
        "{params.serve}python -m magicoder_repro.plus.teacher_tests --records {input.records:q} "
        "--template {input.template:q} --teacher {params.teacher:q} {resources.teacher_client} "
        "--responses {output.responses:q} --ledger {output.ledger:q} 2> {log:q}"


rule execution_filter:
    input:
        unpack(execution_filter_inputs),
    output:
        kept=f"{PLUS_DATA}/execution/{{lang}}.records.jsonl",
        removed=f"{PLUS_DATA}/execution/{{lang}}.removed.jsonl",
        summary=f"{PLUS_DATA}/execution/{{lang}}.json",
    params:
        settings=as_json(enabled_settings("execution_filter")),
        sandbox=as_json(config.get("evaluation", {}).get("sandbox", {})),
        tests=lambda wildcards, input: f"--tests {shlex.quote(input.tests)}" if input.get("tests") else "",
        image=image_param("eval"),
    log:
        f"{RESULTS}/logs/plus/execution_filter/{{lang}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/plus/execution_filter/{{lang}}.tsv"
    container:
        container_image("execution_filter", "eval", needs=lambda wildcards: sandbox_needs(wildcards.lang))
    threads: config["curation"].get("execution_filter", {}).get("workers", 2)
    resources:
        **docker_shell("execution_filter", "eval", sandbox=True, needs=lambda wildcards: sandbox_needs(wildcards.lang)),
    shell:
        "python -m magicoder_repro.plus.execution_filter --input {input.records:q} --settings {params.settings:q} "
        "--sandbox {params.sandbox:q} {params.tests} --kept {output.kept:q} --removed {output.removed:q} "
        "--summary {output.summary:q} 2> {log:q}"
