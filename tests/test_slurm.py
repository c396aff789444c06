"""The workflow on a real one-node SLURM cluster (munged, slurmctld, slurmd started by the set-up script,
two fake GPUs as GRES, and a GPU partition whose node never comes up) through profiles/slurm: the data
half's outputs equal a local run's, every GPU rule of the paper preset asks SLURM for its GPUs,
training runs one rank per SLURM task and resumes after a requeue, compute jobs without a network read
the Hub repositories the local stage-in job fetched, and a missing GPU partition or a bad partition
fails at once with a clear reason."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from conftest import REPO, only_languages, result_digests, run_snakemake
from test_train import tiny  # noqa: F401 (fixture)
from test_train_distributed import TOLERANCE

DATA_TARGETS = ["results/sft/stage1.jsonl", "results/sft/stage2.jsonl"]
SLURM = ["--workflow-profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks", "1"]
HARD_LIMIT_S = 480  # a hang is a failure, not a stuck CI job


@pytest.fixture(scope="session", autouse=True)
def cluster():
    subprocess.run(["bash", str(REPO / "tests/setup/start-slurm.sh")], check=True, timeout=120)


def slurm_snakemake(workdir, *args, check=True, env=None):
    """Snakemake with the SLURM profile, killed (not left hanging) after HARD_LIMIT_S."""
    return run_snakemake(workdir, *SLURM, *args, check=check, env=env, timeout=HARD_LIMIT_S)


def test_data_half_on_slurm_equals_local(workdir, tmp_path):
    # Two languages (Python has planted benchmark text, so decontamination acts): every stage, a third of the jobs.
    config = only_languages(workdir, "python", "rust")
    local = tmp_path / "local"
    local.mkdir()
    for entry in workdir.iterdir():
        (local / entry.name).symlink_to(entry.resolve())
    run_snakemake(local, *config, *DATA_TARGETS)
    proc = slurm_snakemake(workdir, *config, *DATA_TARGETS)
    assert "SLURM jobid" in proc.stdout + proc.stderr  # the steps were cluster jobs
    assert "Group job curate" in proc.stdout + proc.stderr  # parse, clean and decontaminate: one job
    on_cluster, reference = result_digests(workdir), result_digests(local)
    assert "sft/stage2.jsonl" in reference
    assert on_cluster == reference


# The paper preset's GPU rules (with a served teacher and embedding on CUDA, as a GPU cluster runs them).
GPU_OVERLAY = """\
teacher: {serve: {engine: vllm, model: Qwen/Qwen2.5-Coder-32B-Instruct, gpus: 4}}
curation: {semantic_decontamination: {device: cuda}}
runtime: {slurm_gpu_partition: gpu}
"""
# Inputs each GPU job reads, as empty stand-ins (the rules before them are not what is tested).
GPU_JOBS = {  # rule -> (target, stand-in inputs)
    "generate": ("results/generate/python.responses.jsonl", ["results/seeds/python.jsonl"]),
    "teacher_tests": ("results/data/plus/execution/python.tests.jsonl", ["results/generate/python.records.jsonl"]),
    "semantic_decontaminate": ("results/data/plus/oss_instruct.semantic.jsonl",
                               ["results/data/plus/oss_instruct.near_dedup.jsonl", "results/data/oss_instruct.removed.jsonl"]),
    "train_stage1": ("results/checkpoints/stage1", ["results/sft/stage1.jsonl"]),
    "eval_generate": ("results/eval/base/humaneval.samples.jsonl", []),
}
# train_stage2 waits for stage 1: submitted from a second work dir where stage 1's checkpoint exists.
STAGE2 = ("results/checkpoints/stage2", ["results/sft/stage2.jsonl", "results/checkpoints/stage1/"])
# What each job must ask SLURM for: GPUs per node, memory, CPUs, time limit, requeue (1 = yes).
EXPECTED = {
    "generate": ("gres:gpu:4", "4000M", "2", "12:00:00", "0"),
    "teacher_tests": ("gres:gpu:4", "4000M", "1", "1:00:00", "0"),
    "semantic_decontaminate": ("gres:gpu:1", "16000M", "8", "1:00:00", "0"),
    "train_stage1": ("gres:gpu:2", "200000M", "8", "1-00:00:00", "1"),
    "train_stage2": ("gres:gpu:2", "200000M", "8", "1-00:00:00", "1"),
    "eval_generate": ("gres:gpu:1", "36000M", "2", "4:00:00", "0"),
}
PAPER = ["--configfile", "config.yaml", "configs/magicoder-ds.yaml", "configs/magicoder-plus.yaml", "gpu.yaml"]


def paper_workdir(path, jobs):
    """A work dir with the paper preset + GPU overlay and empty stand-ins for the jobs' inputs."""
    (path / "gpu.yaml").write_text(GPU_OVERLAY)
    for _, inputs in jobs:
        for name in inputs:
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).mkdir() if name.endswith("/") else (path / name).touch()
    return [target for target, _ in jobs]


def pending_requests(procs, rules):
    """squeue's view of the jobs the runs submitted, once every rule's job is there (they stay pending:
    partition gpu's node never comes up), by rule: partition, GRES per node, memory, CPUs, time limit, job id."""
    fmt = "%i|%k|%P|%b|%m|%c|%l"
    for _ in range(HARD_LIMIT_S):
        rows = [line.split("|") for line in subprocess.run(["squeue", "-h", "-o", fmt], capture_output=True, text=True,
                                                            check=True).stdout.splitlines()]
        found = {row[1].removeprefix("rule_").split("_wildcards_")[0]: row for row in rows}
        if set(rules) <= set(found) or any(p.poll() is not None for p in procs):
            return found
        time.sleep(1)
    return found


def test_paper_gpu_rules_reach_slurm_with_their_gpus(workdir, tmp_path):
    """Every GPU rule of the paper preset, submitted by the real executor to the local SLURM: each job
    asks its partition for its GPUs per node (--gres), memory, CPUs and time, training with requeue."""
    second = tmp_path / "stage2"
    second.mkdir()
    for entry in workdir.iterdir():
        (second / entry.name).symlink_to(entry.resolve())
    runs = [(workdir, paper_workdir(workdir, GPU_JOBS.values())), (second, paper_workdir(second, [STAGE2]))]
    cmd = [sys.executable, "-m", "snakemake", *SLURM]
    procs = [subprocess.Popen([*cmd, *targets, "--allowed-rules", *EXPECTED, *PAPER], cwd=wd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True) for wd, targets in runs]
    try:
        found = pending_requests(procs, EXPECTED)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)  # Snakemake cancels its jobs
        logs = [proc.communicate(timeout=60)[0] for proc in procs]
    try:
        assert set(EXPECTED) <= set(found), logs
        for rule, (gres, mem, cpus, limit, requeue) in EXPECTED.items():
            jobid, _, partition, *asked = found[rule]
            assert (partition, *asked) == ("gpu", gres, mem, cpus, limit), rule
            job = subprocess.run(["scontrol", "show", "job", jobid], capture_output=True, text=True, check=True).stdout
            assert f"Requeue={requeue}" in job, (rule, job)
            if rule.startswith("train"):  # one task per GPU, a rank each: 2 on the paper's node of 2 GPUs
                assert "NumTasks=2" in job and "NtasksPerTRES=1" in job, (rule, job)
    finally:
        subprocess.run(["scancel", *(row[0] for row in found.values())], check=False)


def test_gpu_rule_without_gpu_partition_fails_before_submitting(workdir):
    targets = paper_workdir(workdir, [GPU_JOBS["eval_generate"]])
    (workdir / "gpu.yaml").write_text(GPU_OVERLAY.replace("slurm_gpu_partition: gpu", "slurm_gpu_partition: null"))
    proc = slurm_snakemake(workdir, *targets, *PAPER, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "SLURM jobid" not in out
    assert "eval_generate: asks for 1 GPU(s) on SLURM but runtime.slurm_gpu_partition is not set" in out, out[-3000:]


def test_unknown_partition_fails_clearly(workdir):
    proc = slurm_snakemake(workdir, "results/seeds/python.jsonl", "--set-resources", "seeds:slurm_partition=no-such-partition",
                           check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "no-such-partition" in out and "invalid partition" in out.lower(), out[-3000:]


def squeue_job(rule):
    """(job id, state, reason) of the rule's job in squeue, or None."""
    rows = subprocess.run(["squeue", "-h", "-o", "%i|%k|%T|%r"], capture_output=True, text=True, check=True).stdout
    for row in rows.splitlines():
        jobid, comment, state, reason = row.split("|")
        if comment.startswith(f"rule_{rule}"):
            return jobid, state, reason
    return None


def wait_for(what, condition, proc):
    """Poll condition() until it returns something true; the Snakemake run ending first is a failure."""
    for _ in range(HARD_LIMIT_S * 10):
        found = condition()
        if found:
            return found
        assert proc.poll() is None, f"Snakemake ended before {what}:\n{proc.communicate()[0][-4000:]}"
        time.sleep(0.1)
    pytest.fail(f"no {what} within {HARD_LIMIT_S} s")


@pytest.mark.skipif(os.environ.get("MAGICODER_LONG_TESTS") != "1",
                    reason="set MAGICODER_LONG_TESTS=1: minutes each, over CI's 30-minute budget")
def test_training_ranks_are_slurm_tasks_and_resume_after_requeue(workdir, tiny, tmp_path):  # noqa: F811
    """Stage 1 with 2 gloo processes: one SLURM job of 2 tasks, a rank each, started by one srun from
    the batch step. Requeued (as a preemption does) once it has saved a checkpoint, the job runs again
    and resumes from that checkpoint: every step's loss equals one process's on the same global batch."""
    from magicoder_repro.train.train import train

    records = [{"instruction": f"Add {i} to x.", "response": f"def f(x):\n    return x + {i}\n"} for i in range(32)]
    (workdir / "results/sft").mkdir(parents=True)
    (workdir / "results/sft/stage1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    batch = {"epochs": 1, "learning_rate": 1.0e-3, "max_length": 256, "global_batch_size": 4, "per_device_batch_size": 2,
             "gradient_accumulation_steps": 1}  # 8 steps
    overlay = {"train": {"base_model": str(tiny), "cpu_processes": 2, "save_steps": 2, "stages": {"stage1": batch, "stage2": batch}}}
    (workdir / "ranks.yaml").write_text(json.dumps(overlay))
    ranks = tmp_path / "ranks"
    cmd = [sys.executable, "-m", "snakemake", "results/checkpoints/stage1", *SLURM, "--configfile", "config.yaml", "ranks.yaml",
           "--allowed-rules", "train_stage1", "--set-resources", "train_stage1:cpus_per_task=1"]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "RANK_LOG_DIR": str(ranks)})
    try:
        scratch = workdir / "results/checkpoints/stage1.scratch"
        saved = wait_for("checkpoint", lambda: sorted(scratch.glob("checkpoint-*")), proc)
        jobid, *_ = squeue_job("train_stage1")
        subprocess.run(["scontrol", "requeue", jobid], check=True)
        # A requeued job waits before it may start again; a preempted one would start when resources free up.
        wait_for("requeued job", lambda: (squeue_job("train_stage1") or [None, ""])[1] == "PENDING", proc)
        subprocess.run(["scontrol", "update", f"JobId={jobid}", "StartTime=now"], check=True)
        # The reference meanwhile: one process, two micro-batches of 2 per step.
        ref = tmp_path / "one"
        shared = {**yaml.safe_load((REPO / "config.yaml").read_text())["train"], **overlay["train"]}
        settings = {k: v for k, v in shared.items() if k not in ("stages", "tiny_model", "base_model")}
        train(str(tiny), str(workdir / "results/sft/stage1.jsonl"), str(ref / "out"), str(ref / "log.jsonl"), str(ref / "scratch"),
              {**settings, **batch, "gradient_accumulation_steps": 2})
        out, _ = proc.communicate(timeout=HARD_LIMIT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-5000:]
    job = subprocess.run(["scontrol", "show", "job", jobid], capture_output=True, text=True, check=True).stdout
    assert "NumTasks=2" in job and "Restarts=1" in job, job

    log = [json.loads(line) for line in (workdir / "results/train/stage1.log.jsonl").read_text().splitlines()]
    (resume,) = [r for r in log if r.get("event") == "resume"]
    stopped_at = int(resume["checkpoint"].split("-")[1])
    assert stopped_at >= int(saved[0].name.split("-")[1]) and [r["step"] for r in log if r.get("event") == "start"] == [0, stopped_at]
    assert {(r["launcher"], r["world_size"]) for r in log if r.get("event") == "precision"} == {("ddp", 2)}
    steps = {r["step"]: r["loss"] for r in log if "loss" in r}  # the resumed attempt's, for steps logged twice
    reference = {r["step"]: r["loss"] for r in map(json.loads, (ref / "log.jsonl").read_text().splitlines()) if "loss" in r}
    assert sorted(steps) == sorted(reference) == list(range(1, 9))
    assert [steps[k] for k in sorted(steps)] == pytest.approx([reference[k] for k in sorted(steps)], rel=TOLERANCE, abs=0)
    # Both ranks ran, in both attempts (their own log files), and wrote one checkpoint.
    for rank in ("rank0", "rank1"):
        logs = [f.read_text() for f in (ranks / rank).rglob("stdout.log")]
        assert len(logs) == 2 and all("'loss'" in text for text in logs), (rank, logs)
    assert (workdir / "results/checkpoints/stage1/model.safetensors").exists() and not scratch.exists()


# Tiny stand-ins under the paper preset's Hub ids, served by a local Hub (tests/hub_server.py).
STARCODER_PYTHON = [{"content": f"def f{i}(x):\n    return x + {i}\n"} for i in range(12)]
MULTIPL_E_CARD = """---
configs:
- config_name: humaneval-java
  data_files:
  - split: test
    path: humaneval-java/test.jsonl
---
"""
STAGE_IN_OVERLAY = """\
seeds: {sources: {python: {dataset: bigcode/starcoderdata, data_dir: python, split: "train[:150000]", count: 4}}}
evaluation:
  models: {base: {path: base, backend: transformers, dtype: fp32, gpus: 0}}
  benchmarks: {multipl-e-java: {limit: 2, max_new_tokens: 8, n: 1}}
"""


@pytest.mark.skipif(os.environ.get("MAGICODER_LONG_TESTS") != "1",
                    reason="set MAGICODER_LONG_TESTS=1: minutes each, over CI's 30-minute budget")
def test_offline_compute_jobs_read_the_stage_in_cache(workdir, tiny, tmp_path):  # noqa: F811
    """The paper preset with hub.stage_in: its seed data set, base model and MultiPL-E, fetched by the
    local stage_in jobs from a local Hub through snapshot_download; then the SLURM jobs that read them
    run with no network at all (a network namespace of their own) and ask the Hub nothing."""
    from hub_server import Hub

    root = tmp_path / "hub"
    shutil.copytree(tiny, root / "models/deepseek-ai/deepseek-coder-6.7b-base")
    (root / "datasets/bigcode/starcoderdata/python").mkdir(parents=True)
    (root / "datasets/bigcode/starcoderdata/python/train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in STARCODER_PYTHON))
    (root / "datasets/nuprl/MultiPL-E/humaneval-java").mkdir(parents=True)
    (root / "datasets/nuprl/MultiPL-E/README.md").write_text(MULTIPL_E_CARD)
    tasks = [{"name": f"HumanEval_{i}_java", "language": "java", "prompt": f"class Problem{i} {{\n", "tests": "}\n",
              "stop_tokens": ["\n}"]} for i in range(3)]
    (root / "datasets/nuprl/MultiPL-E/humaneval-java/test.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    hub = Hub(root)
    # Compute jobs run their commands in a network namespace with nothing in it (not even loopback up).
    no_network = tmp_path / "no-network-shell"
    calls = tmp_path / "no-network-calls"
    no_network.write_text(f'#!/bin/sh\necho "$@" >>{calls}\nexec unshare --net /bin/bash "$@"\n')
    no_network.chmod(0o755)
    overlay = STAGE_IN_OVERLAY + f"hub: {{stage_in: true, endpoint: '{hub.url}', cache: '{tmp_path}/hub-cache'}}\n"
    (workdir / "stage-in.yaml").write_text(overlay)
    targets = ["results/seeds/python.jsonl", "results/eval/base/multipl-e-java.samples.jsonl"]
    try:
        proc = slurm_snakemake(workdir, *targets, "--configfile", "config.yaml", "configs/magicoder-ds.yaml", "stage-in.yaml",
                               "--set-resources", f"seeds:shell_exec={no_network}", f"eval_generate:shell_exec={no_network}",
                               "eval_generate:mem_mb=4000", check=False)
    finally:
        hub.close()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert re.search(r"localrule stage_in:", out) and out.count("SLURM jobid") >= 2, out[-3000:]
    staged = sorted(p.relative_to(tmp_path / "hub-cache/staged").as_posix() for p in (tmp_path / "hub-cache/staged").rglob("main.json"))
    assert staged == ["datasets/bigcode/starcoderdata/python/main.json", "datasets/nuprl/MultiPL-E/main.json",
                      "models/deepseek-ai/deepseek-coder-6.7b-base/main.json"]
    # What the Hub was asked: exactly the stage-in's requests (one repository info per repository).
    infos = sorted(path.split("/revision/")[0] for method, path in hub.requests if "/revision/" in path)
    assert infos == ["/api/datasets/bigcode/starcoderdata", "/api/datasets/nuprl/MultiPL-E", "/api/models/deepseek-ai/deepseek-coder-6.7b-base"]
    stage_in_logs = "".join(p.read_text() for p in (workdir / "results/logs/stage_in").rglob("*.log"))
    assert stage_in_logs.count("files in") == 3
    ran = calls.read_text()
    assert ran.count("magicoder_repro.data.seeds") == ran.count("magicoder_repro.evaluate.generate") == 1, ran
    # The jobs read the stand-ins: seeds drawn from its documents, samples for its tasks from the model.
    seeds = [json.loads(line) for line in (workdir / "results/seeds/python.jsonl").read_text().splitlines()]
    assert len(seeds) == 4 and all(s["seed"] in "".join(r["content"] for r in STARCODER_PYTHON) for s in seeds)
    samples = [json.loads(line) for line in (workdir / targets[1]).read_text().splitlines()]
    assert sorted({s["task_id"] for s in samples}) == ["HumanEval_0_java", "HumanEval_1_java"]
