# Curation: exact dedup across languages, benchmark decontamination, the Evol-Instruct set, and the
# instruction/response records both training stages read. Local benchmark and Evol files are inputs,
# so editing one reruns what depends on it; Hub ids are only params.
from pathlib import Path

from magicoder_repro.data.benchmark_strings import local_benchmark_files, relevant_settings
from magicoder_repro.core.sources import local_inputs

DATA = f"{RESULTS}/data"
DECONTAMINATION = relevant_settings(config["curation"]["decontamination"])
EVOL_DECONTAMINATION = DECONTAMINATION if config["evol"].get("decontaminate") else None


localrules:
    sft_stage1,
    sft_stage2,


rule clean:
    input:
        [oss_records_for_clean(lang) for lang in languages()],
    output:
        data=f"{DATA}/oss_instruct.clean.jsonl",
        stats=f"{DATA}/clean_stats.json",
    params:
        shuffle_seed=config["curation"].get("shuffle_seed", 666),
        image=image_param("data"),
    log:
        f"{RESULTS}/logs/curate/clean.log",
    benchmark:
        f"{RESULTS}/benchmarks/curate/clean.tsv"
    group:
        "curate"
    container:
        container_image("clean", "data")
    resources:
        **docker_shell("clean", "data"),
    shell:
        "python -m magicoder_repro.data.clean --inputs {input:q} --shuffle-seed {params.shuffle_seed} "
        "--output {output.data:q} --stats {output.stats:q} 2> {log:q}"


rule decontaminate:
    input:
        data=rules.clean.output.data,
        benchmarks=local_benchmark_files(DECONTAMINATION),
        hub=staged_benchmarks(DECONTAMINATION),
    output:
        kept=f"{DATA}/oss_instruct.jsonl",
        removed=f"{DATA}/oss_instruct.removed.jsonl",
        summary=f"{DATA}/oss_instruct.decontamination.json",
    params:
        settings=as_json(DECONTAMINATION),
        image=image_param("data"),
    log:
        f"{RESULTS}/logs/curate/decontaminate.log",
    benchmark:
        f"{RESULTS}/benchmarks/curate/decontaminate.tsv"
    group:
        "curate"
    container:
        container_image("decontaminate", "data")
    resources:
        **docker_shell("decontaminate", "data"),
    shell:
        "python -m magicoder_repro.data.decontaminate --input {input.data:q} --columns problem solution "
        "--settings {params.settings:q} --kept {output.kept:q} --removed {output.removed:q} "
        "--summary {output.summary:q} 2> {log:q}"


rule evol_instruct:
    input:
        local_inputs(config["evol"]["dataset"]) + local_benchmark_files(EVOL_DECONTAMINATION or {}),
        hub=staged_dataset(config["evol"]) + staged_benchmarks(EVOL_DECONTAMINATION),
    output:
        data=f"{DATA}/evol_instruct.jsonl",
        removed=f"{DATA}/evol_instruct.removed.jsonl",
        summary=f"{DATA}/evol_instruct.decontamination.json",
    params:
        evol=as_json(config["evol"]),
        # Only a decontaminated Evol set depends on the benchmark settings.
        decontamination=as_json(EVOL_DECONTAMINATION),
        image=image_param("data"),
    log:
        f"{RESULTS}/logs/curate/evol_instruct.log",
    benchmark:
        f"{RESULTS}/benchmarks/curate/evol_instruct.tsv"
    container:
        container_image("evol_instruct", "data")
    resources:
        **docker_shell("evol_instruct", "data"),
    shell:
        "python -m magicoder_repro.data.evol --evol {params.evol:q} --decontamination {params.decontamination:q} "
        "--output {output.data:q} --removed {output.removed:q} --summary {output.summary:q} 2> {log:q}"


rule sft_stage1:
    input:
        oss_records_for_sft(),
    output:
        f"{RESULTS}/sft/stage1.jsonl",
    params:
        # A function, so Snakemake does not read the template's {problem} as a wildcard.
        oss_instruction=lambda wildcards: config["sft"]["oss_instruction"],
        image=image_param("data"),
    log:
        f"{RESULTS}/logs/curate/sft_stage1.log",
    benchmark:
        f"{RESULTS}/benchmarks/curate/sft_stage1.tsv"
    container:
        container_image("sft_stage1", "data")
    resources:
        **docker_shell("sft_stage1", "data"),
    shell:
        "python -m magicoder_repro.data.sft_records --stage 1 --input {input:q} --output {output:q} "
        "--oss-instruction {params.oss_instruction:q} 2> {log:q}"


rule sft_stage2:
    input:
        rules.evol_instruct.output.data,
    output:
        f"{RESULTS}/sft/stage2.jsonl",
    params:
        image=image_param("data"),
    log:
        f"{RESULTS}/logs/curate/sft_stage2.log",
    benchmark:
        f"{RESULTS}/benchmarks/curate/sft_stage2.tsv"
    container:
        container_image("sft_stage2", "data")
    resources:
        **docker_shell("sft_stage2", "data"),
    shell:
        "python -m magicoder_repro.data.sft_records --stage 2 --input {input:q} --output {output:q} 2> {log:q}"
