# OSS-Instruct: ask the teacher for a problem and solution per seed (through the response cache), then
# split each answer by the original's rules. The template and the replay file are inputs, so editing
# them reruns; every teacher setting that can change an answer (or the ledger) is a param.
import os
import shlex

# Only how requests are sent, never what is asked: editing these reruns nothing.
TEACHER_RUNTIME_KEYS = ("concurrency", "max_retries", "timeout_s", "api_key_env", "replay_file", "prompt_template")


def teacher_settings():
    return {k: v for k, v in config["teacher"].items() if k not in TEACHER_RUNTIME_KEYS}


def teacher_inputs():
    teacher = config["teacher"]
    inputs = {"template": teacher["prompt_template"]}
    if teacher["backend"] == "replay":
        inputs["replay"] = teacher["replay_file"]
    return inputs


def teacher_key_envvars():
    """The API key variable is handed to jobs (e.g. on SLURM) when set. When it is unset, `snakemake -n`
    still shows the DAG, and the generate job stops with a clear error before sending anything."""
    teacher = config["teacher"]
    key_env = teacher.get("api_key_env", "OPENAI_API_KEY")
    return [key_env] if teacher["backend"] == "openai" and key_env in os.environ else []


def teacher_runtime_args():
    """How requests are sent, outside params (a change reruns nothing); the replay file is an input."""
    teacher = config["teacher"]
    args = {"--cache": f"{CACHE}/teacher", "--api-key-env": teacher.get("api_key_env", "OPENAI_API_KEY"),
            "--concurrency": teacher.get("concurrency", 64), "--max-retries": teacher.get("max_retries", 8),
            "--timeout-s": teacher.get("timeout_s", 300)}
    if teacher["backend"] == "replay":
        args["--replay-file"] = teacher["replay_file"]
    return " ".join(f"{flag} {shlex.quote(str(value))}" for flag, value in args.items())


TEACHER_RUNTIME_ARGS = teacher_runtime_args()


envvars:
    *teacher_key_envvars(),


rule generate:
    input:
        seeds=f"{RESULTS}/seeds/{{lang}}.jsonl",
        **teacher_inputs(),
    output:
        responses=f"{RESULTS}/generate/{{lang}}.responses.jsonl",
        ledger=f"{RESULTS}/generate/{{lang}}.ledger.json",
    params:
        teacher=as_json(teacher_settings()),
    log:
        f"{RESULTS}/logs/generate/{{lang}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/generate/{{lang}}.tsv"
    resources:
        gpus=teacher_serve_gpus(),
    shell:
        "{TEACHER_SERVE}python -m magicoder_repro.generate --seeds {input.seeds:q} --template {input.template:q} "
        "--teacher {params.teacher:q} {TEACHER_RUNTIME_ARGS} "
        "--responses {output.responses:q} --ledger {output.ledger:q} 2> {log:q}"


rule parse:
    input:
        f"{RESULTS}/generate/{{lang}}.responses.jsonl",
    output:
        records=f"{RESULTS}/generate/{{lang}}.records.jsonl",
        stats=f"{RESULTS}/generate/{{lang}}.parse_stats.json",
    log:
        f"{RESULTS}/logs/parse/{{lang}}.log",
    shell:
        "python -m magicoder_repro.parse --responses {input:q} --records {output.records:q} "
        "--stats {output.stats:q} > {log:q} 2>&1"
