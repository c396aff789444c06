"""What a cluster run decides while building the DAG (tests/test_slurm.py runs them for real): with
hub.stage_in the paper preset stages exactly the Hub repositories the run reads, and every job that
reads one has its manifest among its inputs; a training launch the config cannot satisfy stops before
any job runs, with one line naming the rule and the key."""
import json
import re

import pytest

from conftest import run_snakemake

PAPER = ["--configfile", "config.yaml", "configs/magicoder-ds.yaml", "configs/magicoder-plus.yaml", "overlay.yaml"]
SERVED = "teacher: {serve: {engine: vllm, model: Qwen/Qwen2.5-Coder-32B-Instruct, gpus: 4}}\n"
STAGED = {
    "models": ["Qwen/Qwen2.5-Coder-32B-Instruct", "deepseek-ai/deepseek-coder-6.7b-base"],
    "datasets": [*(f"bigcode/starcoderdata/{d}" for d in ("c-sharp", "cpp", "java", "php", "python", "rust", "shell", "typescript")),
                 "bigcode/the-stack/data/swift", "codeparrot/apps", "ise-uiuc/Magicoder-Evol-Instruct-110K", "nuprl/MultiPL-E",
                 "openai/gsm8k", "xlang-ai/DS-1000"],
}
# Jobs that read the Hub, and the repository (prefix) every job of the rule waits for.
READERS = {
    "seeds": "datasets/bigcode/", "decontaminate": "datasets/openai/gsm8k", "semantic_decontaminate": "datasets/xlang-ai/DS-1000",
    "evol_instruct": "datasets/ise-uiuc/Magicoder-Evol-Instruct-110K", "generate": "models/Qwen/Qwen2.5-Coder-32B-Instruct",
    "teacher_tests": "models/Qwen/Qwen2.5-Coder-32B-Instruct", "train_stage1": "models/deepseek-ai/deepseek-coder-6.7b-base",
}


def jobs(dry_run_output):
    """(rule, its first listed files: the inputs, or the outputs of a job without inputs) per job of a dry run."""
    return re.findall(r"rule (\w+):\n\s+(?:input|output): (.*)", dry_run_output)


def test_paper_preset_stages_every_hub_repository_its_jobs_read(workdir):
    (workdir / "overlay.yaml").write_text(SERVED + "hub: {stage_in: true, cache: hub-cache}\n")
    found = jobs(run_snakemake(workdir, "-n", *PAPER).stdout)
    staged = sorted(re.fullmatch(r".*/hub-cache/staged/(\S+)/main\.json", files)[1] for rule, files in found if rule == "stage_in")
    assert staged == sorted(f"{kind}/{repo}" for kind, repos in STAGED.items() for repo in repos)
    for rule, needs in READERS.items():
        inputs = [files.split(", ") for name, files in found if name == rule]
        assert inputs and all(any(f"/hub-cache/staged/{needs}" in f for f in files) for files in inputs), rule
    # Evaluation: the base model's 9 generation jobs wait for it; generating and scoring MultiPL-E for
    # 3 models x 6 languages wait for its data set.
    reading = lambda rule, needs: sum(any(f"/staged/{needs}/" in f for f in files.split(", ")) for name, files in found if name == rule)  # noqa: E731
    assert reading("eval_generate", "models/deepseek-ai/deepseek-coder-6.7b-base") == 9
    assert reading("eval_generate", "datasets/nuprl/MultiPL-E") == reading("eval_score", "datasets/nuprl/MultiPL-E") == 18


BATCH = {"epochs": 1, "learning_rate": 1.0e-3, "max_length": 64, "global_batch_size": 4, "per_device_batch_size": 2,
         "gradient_accumulation_steps": 1}


@pytest.mark.parametrize("train, message", [
    ({"cpu_processes": 2, "stages": {"stage1": {**BATCH, "gradient_accumulation_steps": 2}, "stage2": BATCH}},
     "train_stage1: train.stages.stage1.global_batch_size 4 != per_device_batch_size x gradient_accumulation_steps x "
     "2 processes (train.gpus or train.cpu_processes, x train.nodes) = 8"),
    ({"nodes": 2, "stages": {"stage1": BATCH, "stage2": BATCH}},
     "train_stage1: train.nodes 2 needs the SLURM executor (--workflow-profile profiles/slurm); on one machine set train.nodes: 1"),
], ids=["world-size", "nodes-without-slurm"])
def test_a_launch_the_config_cannot_satisfy_stops_before_any_job(workdir, train, message):
    (workdir / "results/sft").mkdir(parents=True)
    (workdir / "results/sft/stage1.jsonl").write_text(json.dumps({"instruction": "x", "response": "y"}) + "\n")
    (workdir / "base").mkdir()  # a local base model: nothing upstream of training
    (workdir / "overlay.yaml").write_text(json.dumps({"train": {"base_model": "base", **train}}))
    proc = run_snakemake(workdir, "results/checkpoints/stage1", "--configfile", "config.yaml", "overlay.yaml", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and message in out, out[-3000:]
    assert not (workdir / "results/logs").exists()  # no job started
