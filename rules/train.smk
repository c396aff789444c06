# Two-stage instruction tuning (magicoder.md §4): base model + OSS-Instruct records -> stage 1;
# stage-1 checkpoint + Evol-Instruct records -> stage 2. The launcher picks plain python (1 process),
# `accelerate launch` (several GPUs, or train.cpu_processes gloo processes, of one node), or on SLURM one
# task per rank (train_tasks in common.smk).
rule tiny_base_model:
    input:
        lambda wildcards: tiny_corpus(),
    output:
        directory(TINY_BASE_MODEL),
    params:
        model=as_json(config["train"]["tiny_model"]["params"]),
        image=image_param("train"),
    log:
        f"{RESULTS}/logs/train/tiny_base_model.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/tiny_base_model.tsv"
    container:
        container_image("tiny_base_model", "train")
    resources:
        **docker_shell("tiny_base_model", "train"),
    shell:
        "python -m magicoder_repro.train.tiny_model --corpus {input:q} --out {output:q} --params {params.model:q} > {log:q} 2>&1"


# Several nodes: scripts/launch_train.sh starts the ranks with one srun from the batch step, in the image.
TRAIN_NEEDS = ["srun"] * (config["train"]["nodes"] > 1)


for _stage in ("stage1", "stage2"):

    rule:
        name:
            f"train_{_stage}"
        input:
            model=local_model_input(_stage),
            data=f"{RESULTS}/sft/{_stage}.jsonl",
            hub=staged_model(stage_init(_stage)),
        output:
            model=directory(checkpoint_dir(_stage)),
            log=f"{RESULTS}/train/{_stage}.log.jsonl",
        params:
            init=lambda wildcards, input, stage=_stage: input.model[0] if input.model else stage_init(stage),
            settings=as_json(stage_settings(_stage)),
            # Resumable checkpoints live beside the output, not in it: Snakemake deletes the outputs
            # of a failed job, and a preempted job must find its last checkpoint on the rerun.
            scratch=f"{checkpoint_dir(_stage)}.scratch",
            launch=lambda wildcards, stage=_stage: launch_args(stage),
            image=image_param("train"),
        log:
            f"{RESULTS}/logs/train/{_stage}.log",
        benchmark:
            f"{RESULTS}/benchmarks/train_{_stage}.tsv"
        # A preempted or failed run is retried and resumes from its last checkpoint in params.scratch.
        retries: 2
        container:
            container_image(f"train_{_stage}", "train", needs=TRAIN_NEEDS)
        # CPUs of the job, or of each task where a task is a rank (train_tasks; profiles/slurm sets them).
        threads: max(2, TRAIN["cpu_processes"]) if TRAIN["gpus"] == 0 else 2
        resources:
            **train_tasks(f"train_{_stage}"),
            mem_mb=8000 if config["train"]["gpus"] == 0 else 200000,
            runtime=30 if config["train"]["gpus"] == 0 else 24 * 60,
            # SIGTERM to the training processes 5 minutes before the time limit (train.py saves a checkpoint
            # and exits; the retry resumes from it), and requeue when preempted.
            slurm_extra="--signal=TERM@300 --requeue",
            **gpu_resources(f"train_{_stage}", config["train"]["gpus"]),
            **docker_shell(f"train_{_stage}", "train", gpus=config["train"]["gpus"], needs=TRAIN_NEEDS),
        shell:
            "bash scripts/launch_train.sh {params.launch}"
            " --model {params.init:q} --data {input.data:q} --out {output.model:q} --log-file {output.log:q}"
            " --scratch {params.scratch:q} --settings {params.settings:q} > {log:q} 2>&1"
