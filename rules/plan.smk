# `make plan`: what this config's run will cost before it pays, sending nothing (magicoder_repro.data.plan):
# teacher requests the cache lacks, their tokens and price per stage, and GPU-hours estimated from the
# project's measured throughput. Run on demand (`snakemake plan --forcerun plan`), never by `all`.
# Here too, for every run: teacher.budget_usd below what the response cache already cost stops it at once.

check_teacher_budget()


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
        results=lambda wildcards, output: Path(output.summary).parent.parent,  # where the records and SFT files are
    log:
        f"{RESULTS}/logs/plan.log",
    container:
        container_image("plan", "data")
    localrule: True
    shell:
        "python -m magicoder_repro.data.plan --config {params.settings:q} --seeds {input.seeds:q} --cache {params.cache:q} "
        "--results {params.results:q} --text {output.text:q} --summary {output.summary:q} 2> {log:q} && cat {output.text:q}"
