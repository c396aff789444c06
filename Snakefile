# Magicoder end to end: seeds -> OSS-Instruct -> clean -> decontaminate -> SFT records
# -> two-stage instruction tuning -> evaluation -> report.
# Each stage is one rule file under rules/ calling one module under scripts/magicoder_repro/.
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")
# This checkout's package first, ahead of an installed one: a copied or edited workflow runs its own code
# (the jobs get the same path through PYTHONPATH, rules/common.smk, also inside containers).
sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from magicoder_repro.core import config_files, errors

errors.one_line_in_snakemake()  # the rule files' own errors in one line, as the stages print them


configfile: "config.yaml"


config_files.validate(config, Path(workflow.basedir) / "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/stage_in.smk"  # Hub repositories for offline compute nodes (hub.stage_in)
include: "rules/seeds.smk"
include: "rules/generate.smk"
include: "rules/curate.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"  # the last stage: it reads every other stage's outputs
include: "rules/plan.smk"  # `make plan`: the price before paying (not part of `all`)


rule all:
    input:
        all_targets(),
    default_target: True


# Optional stages beyond the paper (configs/magicoder-plus.yaml).
include: "rules/plus.smk"



# Provenance of every output this run wrote (magicoder_repro.core.provenance), in results/provenance/,
# and in the report if this run made it.
# Not after --touch: a touched output was not made by its rule from those inputs.
onsuccess:
    if not workflow.touch:
        from magicoder_repro.core import provenance

        provenance.write_records(
            [
                {"rule": job.rule.name, "params": dict(job.params.items()), "image": job.container_img_url,
                 "inputs": list(job.input), "outputs": list(job.output)}
                for job in workflow.dag.finished_jobs
            ],
            Path(workflow.basedir),
            RESULTS,
        )
        # The report was rendered before these records existed: give it this run's.
        for job in workflow.dag.finished_jobs:
            if job.rule.name == "report":
                from magicoder_repro.report import report as report_page

                report_page.refresh_provenance(job.output.html, job.output.summary, REPORT_DIR, job.params.provenance)
