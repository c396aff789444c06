# Two-stage instruction tuning (magicoder.md §4): base model + OSS-Instruct records -> stage 1;
# stage-1 checkpoint + Evol-Instruct records -> stage 2. The launcher picks plain python (1 process),
# `accelerate launch` (several GPUs of one node) or srun + accelerate (several nodes).
from glob import glob


def tiny_corpus():
    """Files the tiny tokenizer is trained on (globs from config, so a changing demo pack is picked up)."""
    files = sorted({f for pattern in config["train"]["tiny_model"]["corpus"] for f in glob(pattern)})
    if not files:
        raise ValueError(f"train.tiny_model.corpus matches no file: {config['train']['tiny_model']['corpus']}")
    return files


def stage_settings(stage):
    """Everything that changes a stage's weights: shared settings plus the stage's own (params)."""
    shared = {k: v for k, v in config["train"].items() if k not in ("stages", "tiny_model", "base_model")}
    return {**shared, **config["train"]["stages"][stage]}


def stage_init(stage):
    """Stage 1 starts from the base model, stage 2 from stage 1's checkpoint."""
    return base_model() if stage == "stage1" else checkpoint_dir("stage1")


def local_model_input(stage):
    """The model directory as a file dependency when a rule builds it; Hub ids are no file input."""
    init = stage_init(stage)
    return [init] if stage == "stage2" or init == TINY_BASE_MODEL else []


rule tiny_base_model:
    input:
        lambda wildcards: tiny_corpus(),
    output:
        directory(TINY_BASE_MODEL),
    params:
        model=as_json(config["train"]["tiny_model"]["params"]),
    log:
        "logs/train/tiny_base_model.log",
    shell:
        "python -m magicoder_repro.tiny_model --corpus {input:q} --out {output:q} --params {params.model:q} > {log:q} 2>&1"


for _stage in ("stage1", "stage2"):

    rule:
        name:
            f"train_{_stage}"
        input:
            model=local_model_input(_stage),
            data=f"{RESULTS}/sft/{_stage}.jsonl",
        output:
            model=directory(checkpoint_dir(_stage)),
            log=f"{RESULTS}/train/{_stage}.log.jsonl",
        params:
            init=stage_init(_stage),
            settings=as_json(stage_settings(_stage)),
            # Resumable checkpoints live beside the output, not in it: Snakemake deletes the outputs
            # of a failed job, and a preempted job must find its last checkpoint on the rerun.
            scratch=f"{checkpoint_dir(_stage)}.scratch",
            launch=f"{config['train']['gpus']} {config['train']['nodes']} {config['train']['distributed']}",
        log:
            f"logs/train/{_stage}.log",
        benchmark:
            f"{RESULTS}/benchmarks/train_{_stage}.tsv"
        threads: 2
        resources:
            gpus=config["train"]["gpus"],
            nodes=config["train"]["nodes"],
            tasks_per_node=1,
            mem_mb=24000 if config["train"]["gpus"] == 0 else 200000,
            runtime=30 if config["train"]["gpus"] == 0 else 24 * 60,
        shell:
            "bash scripts/launch_train.sh {params.launch}"
            " --model {params.init:q} --data {input.data:q} --out {output.model:q} --log-file {output.log:q}"
            " --scratch {params.scratch:q} --settings {params.settings:q} > {log:q} 2>&1"
