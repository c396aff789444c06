# OSS-Instruct: ask the teacher for a problem and solution per seed (through the response cache), then
# split each answer by the original's rules. The template and the replay file are inputs, so editing
# them reruns; every teacher setting that can change an answer (or the ledger) is a param (helpers in
# common.smk).

envvars:
    *teacher_key_envvars(),


rule generate:
    input:
        seeds=f"{RESULTS}/seeds/{{lang}}.jsonl",
        **teacher_inputs(),
        hub=staged_model((config["teacher"].get("serve") or {}).get("model")),
    output:
        responses=f"{RESULTS}/generate/{{lang}}.responses.jsonl",
        ledger=f"{RESULTS}/generate/{{lang}}.ledger.json",
    params:
        teacher=as_json(teacher_settings()),
        serve=TEACHER_SERVE,
        image=image_param("data"),
    log:
        f"{RESULTS}/logs/generate/{{lang}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/generate/{{lang}}.tsv"
    container:
        container_image("generate", "data")
    resources:
        teacher_client=TEACHER_RUNTIME_ARGS,  # how requests are sent: not a param, a change reruns nothing
        **gpu_resources("generate", teacher_serve_gpus()),
        **docker_shell("generate", "data", gpus=teacher_serve_gpus(), network=LIVE_TEACHER),
    shell:
        "{params.serve}python -m magicoder_repro.data.generate --seeds {input.seeds:q} --template {input.template:q} "
        "--teacher {params.teacher:q} {resources.teacher_client} "
        "--responses {output.responses:q} --ledger {output.ledger:q} 2> {log:q}"


rule parse:
    input:
        f"{RESULTS}/generate/{{lang}}.responses.jsonl",
    output:
        records=f"{RESULTS}/generate/{{lang}}.records.jsonl",
        stats=f"{RESULTS}/generate/{{lang}}.parse_stats.json",
    params:
        image=image_param("data"),
    log:
        f"{RESULTS}/logs/parse/{{lang}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/parse/{{lang}}.tsv"
    group:
        "curate"
    container:
        container_image("parse", "data")
    resources:
        **docker_shell("parse", "data"),
    shell:
        "python -m magicoder_repro.data.parse --responses {input:q} --records {output.records:q} "
        "--stats {output.stats:q} > {log:q} 2>&1"
