# `make plan`: what this config's run will cost before it pays, sending nothing (magicoder_repro.plan):
# teacher requests the cache lacks, their tokens and price per stage, and GPU-hours estimated from the
# project's measured throughput. Run on demand (`snakemake plan --forcerun plan`), never by `all`.


def plan_settings():
    """Everything the plan reads: the whole teacher section (its runtime keys included: budget, Batch
    API), the stages whose size it estimates, and which languages the teacher writes tests for."""
    sections = {name: config[name] for name in ("teacher", "curation", "evol", "train", "evaluation")}
    return {**sections, "teacher_tests_languages": teacher_tests_languages()}


rule plan:
    input:
        seeds=expand(f"{RESULTS}/seeds/{{lang}}.jsonl", lang=languages()),
        **teacher_inputs(),
    output:
        text=f"{RESULTS}/plan/plan.txt",
        summary=f"{RESULTS}/plan/plan.json",
    params:
        settings=as_json(plan_settings()),
        cache=f"{CACHE}/teacher",
    localrule: True
    shell:
        "python -m magicoder_repro.plan --config {params.settings:q} --seeds {input.seeds:q} --cache {params.cache:q} "
        "--results {RESULTS} --text {output.text:q} --summary {output.summary:q} && cat {output.text:q}"
