# Magicoder end to end: seeds -> OSS-Instruct -> clean -> decontaminate -> SFT records
# -> two-stage instruction tuning -> evaluation -> report.
# Each stage is one rule file under rules/ calling one module under scripts/magicoder_repro/.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/seeds.smk"
include: "rules/generate.smk"
include: "rules/curate.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"  # the last stage: it reads every other stage's outputs


rule all:
    input:
        all_targets(),
    default_target: True


# Optional stages beyond the paper (configs/magicoder-plus.yaml).
include: "rules/plus.smk"


# Keep last: gives every rule defined above its image and cluster resources.
include: "rules/runtime.smk"
