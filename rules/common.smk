# Helpers shared by the rule files (config lookups, target lists, how rules call the Python package).
import json
import os
import shlex
import sys
import tarfile
from glob import glob
from pathlib import Path

import yaml
from snakemake.settings.types import DeploymentMethod

from magicoder_repro.core.errors import PipelineError  # reported in one line (errors.one_line_in_snakemake)
from magicoder_repro.core.sources import is_local

# Rules run `python -m magicoder_repro.<stage>`: the package is found through PYTHONPATH (also inside
# containers, where the work tree is mounted) and `python` is this interpreter's when run from a venv.
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [str(Path(workflow.basedir) / "scripts"), os.environ.get("PYTHONPATH")])),
    PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
)

RESULTS = "results"
CACHE = config.get("cache_dir", "cache")


def as_json(obj):
    """A config section as canonical JSON, for `params:` (a changed value reruns the rule)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def languages():
    """Languages with at least one seed to draw, in config order."""
    return [lang for lang, src in config["seeds"]["sources"].items() if src.get("count", 0) > 0]


TINY_BASE_MODEL = f"{RESULTS}/models/tiny-base"


def base_model():
    """The base model to fine-tune: a local path or Hub id from `train.base_model`, or (value `tiny`,
    the offline default) the directory the rule `tiny_base_model` builds."""
    name = config["train"]["base_model"]
    return TINY_BASE_MODEL if name == "tiny" else name


def checkpoint_dir(stage):
    """Final checkpoint of a training stage (`stage1` or `stage2`), loadable with from_pretrained."""
    return f"{RESULTS}/checkpoints/{stage}"


def all_targets():
    """What `snakemake` builds by default; each stage's rule file adds its final outputs here."""
    evaluation = config.get("evaluation", {})
    scores = [f"{RESULTS}/eval/{m}/{b}.json" for m in evaluation.get("models", {}) for b in evaluation.get("benchmarks", {})]
    # Summaries of the optional stages (rules/plus.smk), which also reach the report through stage 1.
    plus = [f"{PLUS_DATA}/oss_instruct.near_dedup.json"] * plus_enabled("near_dedup")
    plus += [f"{PLUS_DATA}/oss_instruct.semantic.json"] * plus_enabled("semantic_decontamination")
    plus += [f"{PLUS_DATA}/execution/{lang}.json" for lang in languages()] * plus_enabled("execution_filter")
    return [f"{RESULTS}/sft/stage1.jsonl", f"{RESULTS}/sft/stage2.jsonl", checkpoint_dir("stage2"),
            *scores, *plus, f"{RESULTS}/report/index.html"]


# Optional stages beyond the paper (rules/plus.smk): each one, when enabled in config, takes its input's
# place downstream, so the paper's DAG is unchanged with them off.
PLUS_DATA = f"{RESULTS}/data/plus"


def enabled_settings(stage):
    """curation.<stage> without its on/off switch (the switch changes the DAG, not the stage's result)."""
    return {k: v for k, v in config["curation"].get(stage, {}).items() if k != "enabled"}


def plus_enabled(stage):
    return config["curation"].get(stage, {}).get("enabled", False)


def oss_records_for_clean(lang):
    """A language's records as `clean` reads them: execution-checked when curation.execution_filter is on."""
    if plus_enabled("execution_filter"):
        return f"{PLUS_DATA}/execution/{lang}.records.jsonl"
    return f"{RESULTS}/generate/{lang}.records.jsonl"


def teacher_tests_languages():
    """Languages whose records the teacher writes tests for: checked ones, when
    curation.execution_filter.tests asks the teacher."""
    settings = config["curation"].get("execution_filter", {})
    if not plus_enabled("execution_filter") or settings.get("tests", "solution") == "solution":
        return []
    return [lang for lang in languages() if lang in settings.get("languages", ["python"])]


def execution_filter_inputs(wildcards):
    """A language's parsed records, and the teacher's tests for them when it writes some."""
    inputs = {"records": f"{RESULTS}/generate/{wildcards.lang}.records.jsonl"}
    if wildcards.lang in teacher_tests_languages():
        inputs["tests"] = f"{PLUS_DATA}/execution/{wildcards.lang}.tests.jsonl"
    return inputs


def teacher_tests_inputs():
    """The tests template (the teacher's own template is not asked) and, replaying, the replay file."""
    template = config["curation"].get("execution_filter", {}).get("tests_prompt_template", "prompts/execution_tests.txt")
    return {**teacher_inputs(), "template": template}


def oss_records_after_near_dedup():
    if plus_enabled("near_dedup"):
        return f"{PLUS_DATA}/oss_instruct.near_dedup.jsonl"
    return f"{RESULTS}/data/oss_instruct.jsonl"


def oss_records_for_sft():
    """The OSS-Instruct records stage 1 trains on: substring-decontaminated, then near-deduplicated and
    semantically decontaminated when those stages are on."""
    if plus_enabled("semantic_decontamination"):
        return f"{PLUS_DATA}/oss_instruct.semantic.jsonl"
    return oss_records_after_near_dedup()


def teacher_serve_prefix():
    """With teacher.serve set, the wrapper that starts the teacher server inside the generation job,
    runs the command after it against that server and stops it (magicoder_repro.plus.serve_teacher)."""
    teacher = config["teacher"]
    serve = teacher.get("serve")
    if not serve:
        return ""
    if teacher["backend"] != "openai" or teacher.get("base_url"):
        raise PipelineError("teacher.serve needs teacher.backend: openai and teacher.base_url: null "
                         "(the job points generation at the server it starts)")
    return (f"python -m magicoder_repro.plus.serve_teacher --serve {shlex.quote(as_json(serve))} "
            f"--served-name {shlex.quote(teacher['model'])} "
            f"--api-key-env {shlex.quote(teacher.get('api_key_env', 'OPENAI_API_KEY'))} -- ")


def teacher_serve_gpus():
    """GPUs the generation job needs: the served teacher's (0 without one)."""
    return (config["teacher"].get("serve") or {}).get("gpus", 0)


# Put before the generation command in its rule's shell (empty without teacher.serve).
TEACHER_SERVE = teacher_serve_prefix()
# Rules asking a live teacher need a network in Docker (docker_shell).
LIVE_TEACHER = config["teacher"]["backend"] == "openai"


# Training (rules/train.smk)
def tiny_corpus():
    """Files the tiny tokenizer is trained on (globs from config, so a changing demo pack is picked up)."""
    files = sorted({f for pattern in config["train"]["tiny_model"]["corpus"] for f in glob(pattern)})
    if not files:
        raise PipelineError(f"train.tiny_model.corpus matches no file: {config['train']['tiny_model']['corpus']}")
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


# Evaluation (rules/evaluate.smk)
OWN_MODELS = {"base": base_model, "stage1": lambda: checkpoint_dir("stage1"), "stage2": lambda: checkpoint_dir("stage2")}
SCORING_KEYS = ("parallel", "min_time_limit", "timeout_s")  # change the score's run, not the samples


def eval_model(name):
    """A model's config: shared generation settings overlaid by its own; `path` resolved to a directory."""
    models = config["evaluation"]["models"]
    if name not in models:
        raise PipelineError(f"unknown evaluation model {name!r}; configured: {', '.join(models)}")
    spec = {**config["evaluation"].get("generation", {}), **models[name], "name": name}
    if spec.get("path") in OWN_MODELS:
        spec["path"] = OWN_MODELS[spec["path"]]()
    return spec


def eval_benchmark(name, keep_scoring=True):
    benchmarks = config["evaluation"]["benchmarks"]
    if name not in benchmarks:
        raise PipelineError(f"unknown benchmark {name!r}; configured: {', '.join(benchmarks)}")
    bench = {**benchmarks[name], "benchmark": name}
    return bench if keep_scoring else {k: v for k, v in bench.items() if k not in SCORING_KEYS}


def eval_gpus(wildcards):
    """GPUs the model of an eval_generate job runs on (evaluation.models.<name>.gpus, shared setting first)."""
    return int(eval_model(wildcards.model).get("gpus", 0))


def eval_model_input(wildcards):
    """The checkpoint as a file dependency when this workflow builds it or it is a local directory."""
    spec = eval_model(wildcards.model)
    path = spec.get("path")
    if spec.get("backend") == "openai" or path is None:
        return []
    return [path] if path in (TINY_BASE_MODEL, checkpoint_dir("stage1"), checkpoint_dir("stage2")) or Path(path).exists() else []


# Training on SLURM (rules/train.smk)
TRAIN = config["train"]
TRAIN_WORLD = (TRAIN["gpus"] or TRAIN["cpu_processes"]) * TRAIN["nodes"]


def executor():
    """Known once the DAG is built (the executor is chosen after the rule files are read)."""
    return workflow.executor_plugin.name if workflow.executor_plugin else ""


def on_slurm():
    return executor().startswith("slurm")


def train_tasks(rule):
    """Several processes on SLURM: one task per rank, train.nodes x (train.gpus, or train.cpu_processes
    without GPUs) tasks, through the executor plugin's task model: with `mpi` set it submits the job with
    that many tasks and runs its command in the batch step, not in a step of its own, so that
    launch_train.sh starts the ranks as the job's one step. Without SLURM, one node (accelerate launch)."""

    def tasks(key):
        def value(wildcards):
            if TRAIN["nodes"] > 1 and executor() not in ("dryrun", "touch") and not on_slurm():
                raise PipelineError(f"{rule}: train.nodes {TRAIN['nodes']} needs the SLURM executor "
                                    "(--workflow-profile profiles/slurm); on one machine set train.nodes: 1")
            if TRAIN_WORLD > 1 and on_slurm():
                return {"mpi": "srun", "tasks": TRAIN_WORLD, "nodes": TRAIN["nodes"], "tasks_per_gpu": 1}[key]
            return None

        return value

    keys = ["mpi", "tasks", "nodes"] + ["tasks_per_gpu"] * bool(TRAIN["gpus"])  # one task per GPU
    return {key: tasks(key) for key in keys}


def launch_args(stage):
    """launch_train.sh's arguments. The stage's global batch must be per-device batch x accumulation x
    world size (train.py stops on a mismatch, but only once the job runs): checked before anything is
    submitted, for the stages in the DAG."""
    batch = TRAIN["stages"][stage]
    product = batch["per_device_batch_size"] * batch["gradient_accumulation_steps"] * TRAIN_WORLD
    if product != batch["global_batch_size"]:
        raise PipelineError(f"train_{stage}: train.stages.{stage}.global_batch_size {batch['global_batch_size']} != "
                            f"per_device_batch_size x gradient_accumulation_steps x {TRAIN_WORLD} processes "
                            f"(train.gpus or train.cpu_processes, x train.nodes) = {product}")
    return " ".join(str(TRAIN[k]) for k in ("gpus", "nodes", "distributed", "cpu_processes"))


# Stage-in (rules/stage_in.smk): Hub repositories for compute nodes without internet.
HUB = config.get("hub", {})
STAGE_IN = HUB.get("stage_in", False)
HUB_CACHE = Path(HUB.get("cache", f"{CACHE}/hub")).absolute()
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def hub_item(kind, ref, data_dir=None, revision=None):
    """The stage-in item for a config value naming a Hub repository (an `org/name` that is no local
    path), as (manifest name, spec); None for anything else."""
    if not STAGE_IN or not isinstance(ref, str) or not HUB_ID.fullmatch(ref) or is_local(ref):
        return None
    name = Path(f"{kind}s", ref, data_dir or "", revision or "main").as_posix()
    return name, {"kind": kind, "repo": ref, "data_dir": data_dir, "revision": revision}


def staged(item):
    return [f"{HUB_CACHE}/staged/{item[0]}.json"] if item else []


def staged_model(ref):
    """The stage-in manifest of a model named by a Hub id, as an input ([] otherwise)."""
    return staged(hub_item("model", ref))


def staged_dataset(spec):
    """The stage-in manifest of a data set spec (`dataset`, optional `data_dir`, `revision`) on the Hub."""
    spec = spec or {}
    return staged(hub_item("dataset", spec.get("dataset"), spec.get("data_dir"), spec.get("revision")))


def staged_benchmarks(decontamination):
    """Manifests of the decontamination benchmarks that are searched and on the Hub."""
    settings = decontamination or {}
    return [f for name, spec in settings.get("benchmarks", {}).items() if name not in settings.get("skip", [])
            for f in staged_dataset(spec)]


def stage_in_items():
    """Every Hub repository this config reads, by manifest name."""
    evaluation = config.get("evaluation", {})
    models = [config["train"]["base_model"], (config["teacher"].get("serve") or {}).get("model")]
    models += [eval_model(m).get("path") for m in evaluation.get("models", {}) if eval_model(m).get("backend") != "openai"]
    if plus_enabled("semantic_decontamination"):
        models.append(config["curation"]["semantic_decontamination"]["model"])
    datasets = [*config["seeds"]["sources"].values(), config["evol"], *evaluation.get("benchmarks", {}).values()]
    decontamination = config["curation"]["decontamination"]
    datasets += [spec for name, spec in decontamination.get("benchmarks", {}).items() if name not in decontamination.get("skip", [])]
    items = [hub_item("model", m) for m in models]
    items += [hub_item("dataset", d.get("dataset"), d.get("data_dir"), d.get("revision")) for d in datasets]
    return dict(filter(None, items))


STAGE_IN_ITEMS = stage_in_items()

# Generation (rules/generate.smk)
# Only how requests are sent, never what is asked: editing these reruns nothing.
TEACHER_RUNTIME_KEYS = ("concurrency", "max_retries", "timeout_s", "api_key_env", "replay_file", "prompt_template",
                        "invalid_cache_entries", "budget_usd", "batch")


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
            "--timeout-s": teacher.get("timeout_s", 300),
            "--invalid-cache-entries": teacher.get("invalid_cache_entries", "rerequest")}
    if teacher["backend"] == "replay":
        args["--replay-file"] = teacher["replay_file"]
    if teacher.get("budget_usd") is not None:
        args["--budget-usd"] = teacher["budget_usd"]
    if teacher.get("batch"):
        args["--batch"] = as_json(teacher["batch"])
    return " ".join(f"{flag} {shlex.quote(str(value))}" for flag, value in args.items())


TEACHER_RUNTIME_ARGS = teacher_runtime_args()


# Plan and budget (rules/plan.smk)
def plan_settings():
    """Everything the plan reads: the whole teacher section (its runtime keys included: budget, Batch
    API), the stages whose size it estimates, and which languages the teacher writes tests for."""
    sections = {name: config[name] for name in ("teacher", "curation", "evol", "train", "evaluation")}
    return {**sections, "teacher_tests_languages": teacher_tests_languages()}


def check_teacher_budget():
    """teacher.budget_usd below what the response cache has already cost: an error before any job runs."""
    teacher = config["teacher"]
    if teacher.get("budget_usd") is None or teacher["backend"] != "openai":
        return
    from magicoder_repro.data import budget

    spent = budget.spent_usd(f"{CACHE}/teacher", teacher.get("price_per_million_tokens") or {}, teacher.get("batch"))
    if spent > teacher["budget_usd"]:
        raise PipelineError(f"teacher.budget_usd is {teacher['budget_usd']:g} USD, but the answers already in {CACHE}/teacher "
                            f"cost {spent:.4f} USD at teacher.price_per_million_tokens: raise the budget to at least that")


# Report (rules/report.smk)
def report_plus_sources():
    """The records stage 1 trains on, and the summaries of the optional stages this config runs
    (rules/plus.smk): through common.smk's switches, so the report follows the config."""
    found = {"sft": oss_records_for_sft()}
    if plus_enabled("execution_filter"):
        found["executed"] = {lang: oss_records_for_clean(lang) for lang in languages()}
        found["execution"] = {lang: report_inputs.for_language(rules.execution_filter.output.summary, lang) for lang in languages()}
        found["test_ledgers"] = {lang: report_inputs.for_language(rules.teacher_tests.output.ledger, lang)
                                 for lang in teacher_tests_languages()}
    if plus_enabled("near_dedup"):
        found["near_dedup"] = str(rules.near_dedup.output.summary)
    if plus_enabled("semantic_decontamination"):
        found["semantic"] = str(rules.semantic_decontaminate.output.summary)
    return found


# How rules run. Each names in its own directives its image (`container`, `params.image`), its
# GPUs as the SLURM executor plugin reads them (`gres`, `slurm_partition`) and its Docker shell
# (`resources: shell_exec`). These helpers only read the config and the image lock for them.
DOCKER_STEP = Path(workflow.basedir) / "containers" / "docker-step.sh"
IMAGE_LOCK = Path(config.get("runtime", {}).get("image_lock", "containers/images.lock.yaml"))


def read_image_lock():
    """The image lock containers/build.sh writes: {env: {digest, id, archive, tools, ...}}; {} before any build."""
    return (yaml.safe_load(IMAGE_LOCK.read_text()) or {}) if IMAGE_LOCK.exists() else {}


IMAGES = read_image_lock()
APPTAINER = DeploymentMethod.APPTAINER in workflow.deployment_settings.deployment_method
# Steps run in their images (Apptainer through `container:`, Docker through `shell_exec`), else in the venv.
CONTAINERIZED = APPTAINER or config.get("runtime", {}).get("docker", False)


def locked_image(rule, env, needs, wildcards):
    """The lock's entry for image `env`, checked before anything runs: there, and with every tool `rule`
    needs (a list, or a function of the wildcards) among those build.sh found in it."""
    entry = IMAGES.get(env)
    if entry is None:
        raise PipelineError(f"{rule}: image {env!r} is not in the image lock {IMAGE_LOCK} (key {env}): "
                            f"build it with `containers/build.sh {env}`")
    needed = needs(wildcards) if callable(needs) else needs
    missing = [tool for tool in needed if tool not in entry.get("tools", [])]
    if missing:
        raise PipelineError(f"{rule}: image {env!r} lacks {', '.join(missing)} ({IMAGE_LOCK}: {env}.tools), "
                            f"which this rule needs for {wildcards_text(wildcards)}")
    return entry


def wildcards_text(wildcards):
    return ", ".join(f"{k}={v}" for k, v in dict(wildcards).items()) or "its job"


def image_archive(env, entry):
    """The image's OCI archive, checked to hold the manifest digest the lock records (its index.json)."""
    path = (IMAGE_LOCK.parent / (entry.get("archive") or "")).resolve()
    if not entry.get("archive") or not path.is_file():
        raise PipelineError(f"image {env!r}: no OCI archive {path} ({IMAGE_LOCK}: {env}.archive): build it with "
                            f"`containers/build.sh {env}` (not --docker-only)")
    with tarfile.open(path) as archive:
        index = json.load(archive.extractfile("./index.json"))
    if index["manifests"][0]["digest"] != entry["digest"]:
        raise PipelineError(f"image {env!r}: {path} holds {index['manifests'][0]['digest']}, not the digest "
                            f"{entry['digest']} of {IMAGE_LOCK}: {env}.digest; rebuild it with `containers/build.sh {env}`")
    return path


def image_param(env):
    """The image's digest as a param: a new image reruns exactly the rules that use it."""
    entry = IMAGES.get(env) if CONTAINERIZED else None
    return entry["id"] if entry else f"none:{env}"


def container_image(rule, env, needs=()):
    """The `container` directive for image `env` (containers/<env>/Dockerfile), which
    `--software-deployment-method apptainer` pulls: the OCI archive the lock names, by its digest in its
    file name (`oci-archive://...`, turned into a .sif by `apptainer pull`). `needs`: tools the rule
    needs in the image. None without Apptainer: the Docker shell or the venv runs the step."""

    def uri(wildcards):
        if not APPTAINER:
            return None
        entry = locked_image(rule, env, needs, wildcards)
        return f"oci-archive://{image_archive(env, entry)}"

    return uri


def sandbox_needs(lang=None):
    """Tools that rules running generated code need in their image: bubblewrap (with the bwrap sandbox) and
    the language's compiler or interpreter (magicoder_repro.evaluate.sandbox.TOOLCHAINS)."""
    from magicoder_repro.evaluate import sandbox

    needs = ["bwrap"] * (config.get("evaluation", {}).get("sandbox", {}).get("runtime", "bwrap") == "bwrap")
    chain = sandbox.toolchain(lang) if lang else None
    return needs + ([chain.tool] if chain else [])


def scoring_needs(wildcards):
    """eval_score's tools: the sandbox's, and for MultiPL-E (dataset name humaneval-<lang>) the language's."""
    bench = eval_benchmark(wildcards.benchmark)
    return sandbox_needs(bench.get("name", "").partition("-")[2] if bench.get("kind") == "multipl-e" else None)


def docker_shell(rule, env, gpus=0, network=False, sandbox=False, needs=()):
    """With runtime.docker, `resources: shell_exec` for a rule: a shim Snakemake calls as `<shell> -c
    <command>`, running the command in the rule's image (by the id in the image lock, loaded from its
    archive when missing) through containers/docker-step.sh with the rule's GPUs (`gpus`: a number or
    a function of the wildcards), its network (`network`, or listed in runtime.network_rules; else
    none) and, for rules running generated code in bubblewrap (`sandbox`), room for bwrap's
    namespaces; `needs` as for container_image. Empty without runtime.docker (unpack it: `**docker_shell(...)`)."""
    runtime = config.get("runtime", {})
    if not runtime.get("docker", False):
        return {}
    network = "bridge" if network or rule in runtime.get("network_rules", []) else "none"
    sandbox = sandbox and config.get("evaluation", {}).get("sandbox", {}).get("runtime", "bwrap") == "bwrap"

    def shim(entry, with_gpus):
        # One shim per setting, not per rule: the rules of a group job must share their shell.
        archive = (IMAGE_LOCK.parent / entry["archive"]).resolve() if entry.get("archive") else ""
        args = ["--env-name", env, "--image", entry["id"], "--archive", str(archive), "--network", network,
                "--workflow-dir", workflow.basedir] + ["--nested-sandbox"] * sandbox
        name = "-".join([env, entry["id"][7:19], network] + ["gpus"] * with_gpus + ["nested-sandbox"] * sandbox)
        path = Path(".snakemake", "docker-shells", name).absolute()
        text = f"#!/bin/sh\nexec {shlex.quote(str(DOCKER_STEP))} {shlex.join(args)}"
        text += f" --gpus {shlex.quote(str(runtime.get('docker_gpus', 'all')))}" * with_gpus + ' -- "$@"\n'
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            path.chmod(0o755)
        return str(path)

    def shell_exec(wildcards):
        return shim(locked_image(rule, env, needs, wildcards), (gpus(wildcards) if callable(gpus) else gpus) > 0)

    return {"shell_exec": shell_exec}


def gpu_partition(rule, gpus):
    """runtime.slurm_gpu_partition for a rule using GPUs; submitting one to SLURM without it is an error
    before anything is submitted (the cluster's default partition rarely has GPUs)."""
    partition = config.get("runtime", {}).get("slurm_gpu_partition")
    executor = workflow.executor_plugin and workflow.executor_plugin.name
    if gpus and not partition and executor == "slurm":
        raise PipelineError(f"{rule}: asks for {gpus} GPU(s) on SLURM but runtime.slurm_gpu_partition is not set; "
                            f"name the cluster's GPU partition there (README, Run on a cluster)")
    return partition if gpus else None


def gpu_resources(rule, gpus):
    """SLURM resources for `gpus` GPUs per node (a number, or a function of the wildcards), as
    `gres: gpu:N` (per node, the executor plugin's GRES resource; its `gpu` would be a per-job total)
    and the GPU partition. None of them without GPUs, so the profile's defaults apply
    (unpack it: `**gpu_resources(...)`)."""
    if callable(gpus):
        return {"gres": lambda wildcards: f"gpu:{gpus(wildcards)}" if gpus(wildcards) else None,
                "slurm_partition": lambda wildcards: gpu_partition(rule, gpus(wildcards))}
    return {"gres": f"gpu:{gpus}", "slurm_partition": lambda wildcards: gpu_partition(rule, gpus)} if gpus else {}
