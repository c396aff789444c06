# Where each step runs: its image (Apptainer `container:` or the Docker wrapper) and what it asks a SLURM
# cluster for. Included after every stage's rule file, so it covers each rule without editing them:
# a rule's environment follows the rule file that defines it.
import os
import re
import shlex
from pathlib import Path

# Rule file -> image environment (containers/<env>/Dockerfile). A rule file not listed here (a new
# stage) is an error, so no step silently runs without an image.
ENV_OF_RULE_FILE = {
    "seeds.smk": "data",
    "generate.smk": "data",
    "curate.smk": "data",
    "train.smk": "train",
    "evaluate.smk": "eval",
    "report.smk": "eval",
    "plus.smk": "eval",  # execution filter (bwrap sandbox), near-dedup, embedding decontamination (torch)
}
# Rules that run generated code in the bubblewrap sandbox (sandbox.py): in Docker they need room for bwrap's
# namespaces (containers/docker-step.sh --nested-sandbox).
BWRAP_RULES = {"eval_score", "execution_filter"}
# Rules that send requests to the teacher: in Docker they get a network when the teacher is a live server.
TEACHER_RULES = {"generate", "teacher_tests"}
PINNED_IMAGE = re.compile(r"(^|@)sha256:[0-9a-f]{64}$")
DOCKER_STEP = Path(workflow.basedir) / "containers" / "docker-step.sh"


def image_env(step):
    """The image environment of a rule, from the file it is defined in."""
    name = Path(step.snakefile).name
    if name not in ENV_OF_RULE_FILE:
        raise ValueError(f"rule {step.name} ({step.snakefile}) has no image: add {name} to ENV_OF_RULE_FILE in rules/runtime.smk")
    return ENV_OF_RULE_FILE[name]


def pinned_image(env):
    """runtime.images.<env>, checked to be pinned: `registry/name@sha256:<64 hex>`, a local image id
    `sha256:<64 hex>`, or an Apptainer .sif file. None when unset (the step runs where Snakemake runs)."""
    ref = config.get("runtime", {}).get("images", {}).get(env)
    if ref and not (PINNED_IMAGE.search(ref) or ref.endswith(".sif")):
        raise ValueError(f"runtime.images.{env} = {ref!r} is not pinned: use name@sha256:<digest> or a local image id sha256:<id>")
    return ref


def apptainer_uri(ref):
    """The `container:` value for `--sdm apptainer`: .sif files and URIs as given, image names via docker://."""
    return ref if ref.endswith(".sif") or "://" in ref else f"docker://{ref}"


def static_int(resource):
    """A resource's value when it is a plain number (not a function of the job), else None."""
    if resource is None or resource.is_evaluable():
        return None
    return resource.value if isinstance(resource.value, int) else None


def docker_shell(step, env, image):
    """A per-rule shell (`resources: shell_exec`) that runs the step's command in `image` with `docker run`.
    Snakemake calls it as `<shell> -c <command>`; the shim adds the rule's GPU and network settings."""
    runtime = config.get("runtime", {})
    gpus = static_int(step.resources.get("gpus")) or 0
    live_teacher = step.name in TEACHER_RULES and config["teacher"]["backend"] == "openai"
    network = "bridge" if live_teacher or step.name in runtime.get("network_rules", []) else "none"
    shim = Path(".snakemake", "docker-shells", step.name, "bash").absolute()
    shim.parent.mkdir(parents=True, exist_ok=True)
    args = ["--env-name", env, "--image", image or "", "--network", network, "--workflow-dir", workflow.basedir]
    if gpus:
        args += ["--gpus", str(runtime.get("docker_gpus", "all"))]
    if step.name in BWRAP_RULES and config.get("evaluation", {}).get("sandbox", {}).get("runtime", "bwrap") == "bwrap":
        args += ["--nested-sandbox"]
    text = f"#!/bin/sh\nexec {shlex.quote(str(DOCKER_STEP))} {shlex.join(args)} -- \"$@\"\n"
    if not shim.exists() or shim.read_text() != text:
        shim.write_text(text)
        shim.chmod(0o755)
    return str(shim)


def cluster_resources(step):
    """SLURM settings the executor plugin reads, unless the profile or command line set them already:
    GPUs per node as GRES (`--gres=gpu:N` counts per node; the plugin's `gpu` counts per job), one task
    per node for multi-node steps (srun starts one launcher per node), partition and account from the
    environment (MAGICODER_SLURM_PARTITION, MAGICODER_SLURM_GPU_PARTITION, MAGICODER_SLURM_ACCOUNT)."""
    gpus = static_int(step.resources.get("gpus")) or 0
    nodes = static_int(step.resources.get("nodes")) or 1
    if gpus and "gres" not in step.resources:
        step.resources["gres"] = f"gpu:{gpus}"
    if nodes > 1 and "slurm_extra" not in step.resources:
        step.resources["slurm_extra"] = "--ntasks-per-node=1"
    partition = (gpus and os.environ.get("MAGICODER_SLURM_GPU_PARTITION")) or os.environ.get("MAGICODER_SLURM_PARTITION")
    if partition:
        step.resources.setdefault("slurm_partition", partition)
    if os.environ.get("MAGICODER_SLURM_ACCOUNT"):
        step.resources.setdefault("slurm_account", os.environ["MAGICODER_SLURM_ACCOUNT"])


def assign_runtime():
    """Give every shell rule its image, its image reference as a param (a new digest reruns the rule),
    its Docker shell when runtime.docker is set, and its cluster resources."""
    use_docker = config.get("runtime", {}).get("docker", False)
    for step in workflow.rules:
        if step.shellcmd is None:
            continue
        env = image_env(step)
        image = pinned_image(env)
        step.set_params(image=image or f"none:{env}")
        if image:
            step.container_img = apptainer_uri(image)
        if use_docker:
            # A missing image fails the steps that need it (not the whole workflow), with a clear message.
            step.resources["shell_exec"] = docker_shell(step, env, image)
        cluster_resources(step)


assign_runtime()
