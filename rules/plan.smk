# `make plan`: what this config's run will cost before it pays, sending nothing (magicoder_repro.plan):
# teacher requests the cache lacks, their tokens and price per stage, and GPU-hours estimated from the
# project's measured throughput. Run on demand (`snakemake plan --forcerun plan`), never by `all`.
# Here too: teacher.budget_usd below what the response cache already cost stops every run at once.
import sys
from pathlib import Path

if str(Path(workflow.basedir) / "scripts") not in sys.path:
    sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from magicoder_repro import budget


def check_teacher_budget():
    """teacher.budget_usd below what the response cache has already cost: an error before any job runs."""
    teacher = config["teacher"]
    if teacher.get("budget_usd") is None or teacher["backend"] != "openai":
        return
    spent = budget.spent_usd(f"{CACHE}/teacher", teacher.get("price_per_million_tokens") or {}, teacher.get("batch"))
    if spent > teacher["budget_usd"]:
        raise WorkflowError(f"teacher.budget_usd is {teacher['budget_usd']:g} USD, but the answers already in {CACHE}/teacher "
                            f"cost {spent:.4f} USD at teacher.price_per_million_tokens: raise the budget to at least that")


check_teacher_budget()


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
