"""The data stages and evaluation scoring run in their images (real dockerd, images built here from the
pinned lock files on a debootstrap base) give the same results as outside them; a missing or unpinned
image is a clear error."""
import gzip
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, result_digests, run_snakemake
from eval_helpers import HUMANEVAL, evalplus_cache  # noqa: F401
from test_sandbox import score_escape_attempts

DATA_TARGETS = ["results/sft/stage1.jsonl", "results/sft/stage2.jsonl"]


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout.strip()


@pytest.fixture(scope="session")
def data_image(images):
    return images["data"]


@pytest.fixture(scope="session")
def eval_image(images):
    """Scoring-only (no torch on the Debian base)."""
    return images["eval"]


def docker_config(workdir: Path, **images: str) -> str:
    path = workdir / "docker.yaml"
    path.write_text(f"runtime:\n  docker: true\n  images: {json.dumps(images)}\n")
    return str(path)


def test_data_stages_in_image_match_outside(workdir, tmp_path, data_image):
    outside = tmp_path / "outside"
    outside.mkdir()
    for entry in workdir.iterdir():
        (outside / entry.name).symlink_to(entry.resolve())
    run_snakemake(outside, *DATA_TARGETS)
    run_snakemake(workdir, *DATA_TARGETS, "--configfile", docker_config(workdir, data=data_image))
    inside, reference = result_digests(workdir), result_digests(outside)
    assert "sft/stage1.jsonl" in reference and len(reference) > 10
    assert inside == reference


def test_steps_really_run_in_the_image(workdir, data_image):
    """An image without the packages fails the steps: they do not quietly run on the host."""
    base = sh(str(REPO / "containers/build-base.sh"))
    bare = sh("docker", "image", "inspect", "--format", "{{.Id}}", base)
    proc = run_snakemake(workdir, "results/seeds/python.jsonl", "--configfile", docker_config(workdir, data=bare), check=False)
    assert proc.returncode != 0
    assert not (workdir / "results/seeds/python.jsonl").exists()


def test_missing_image_is_a_clear_error(workdir, data_image):
    missing = "sha256:" + "0" * 64
    proc = run_snakemake(workdir, "results/seeds/python.jsonl", "--configfile", docker_config(workdir, data=missing), check=False)
    assert proc.returncode != 0
    assert f"image {missing} (runtime.images.data) is not on this Docker host" in proc.stdout + proc.stderr


def test_unpinned_image_is_refused(workdir):
    proc = run_snakemake(workdir, "-n", "--configfile", docker_config(workdir, data="magicoder-repro/data:latest"), check=False)
    assert proc.returncode != 0
    assert "runtime.images.data = 'magicoder-repro/data:latest' is not pinned" in proc.stdout + proc.stderr


# Scoring in the evaluation image: EvalPlus in the bubblewrap sandbox, on samples given to the rule.
EVAL_TARGET = "results/eval/given/humaneval.json"
# Not compared: timings, and torch's version (the scoring-only image has none; the host venv has it).
EVAL_NOT_COMPARED = {"harness": ("groundtruth_seconds", "evaluate_seconds"),
                     "settings": ("groundtruth_seconds", "evaluate_seconds"), "versions": ("torch",)}


def write_samples(workdir: Path, rows: list[dict]):
    """Every other task right (canonical solution), the rest wrong (an empty body)."""
    path = workdir / "results/eval/given/humaneval.samples.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps({"task_id": r["task_id"], "solution": r["prompt"] + (
        r["canonical_solution"] if i % 2 == 0 else "    pass\n")}) + "\n" for i, r in enumerate(rows)))


def comparable(result: dict) -> dict:
    for section, keys in EVAL_NOT_COMPARED.items():
        for key in keys:
            result[section].pop(key)
    return result


@pytest.mark.docker
@pytest.mark.slow
def test_eval_scoring_in_image_matches_outside(workdir, tmp_path, eval_image):
    outside = tmp_path / "outside"
    outside.mkdir()
    for entry in workdir.iterdir():
        (outside / entry.name).symlink_to(entry.resolve())
    rows = [json.loads(line) for line in gzip.open(REPO / HUMANEVAL, "rt")][:4]
    for wd in (workdir, outside):
        write_samples(wd, rows)
    # A model with no checkpoint here: the samples are given, only eval_score may run.
    overlay = tmp_path / "eval.yaml"
    overlay.write_text('evaluation:\n  models: {given: {path: no-checkpoint}}\n  benchmarks: {humaneval: {limit: 4}}\n')
    args = [EVAL_TARGET, "--allowed-rules", "eval_score", "--configfile", str(overlay)]
    run_snakemake(outside, *args)
    run_snakemake(workdir, *args, docker_config(workdir, eval=eval_image))
    inside, reference = (json.loads((wd / EVAL_TARGET).read_text()) for wd in (workdir, outside))
    assert reference["self_check"]["ok"] and reference["sandbox"] == "bwrap"
    assert {t: v["plus"] for t, v in reference["per_task"].items()} == {r["task_id"]: [i % 2 == 0] for i, r in enumerate(rows)}
    assert reference["pass@1"] == {"base": 0.5, "plus": 0.5}
    assert inside["versions"]["torch"] is None and reference["versions"]["torch"]  # really scored in the image
    assert comparable(inside) == comparable(reference)


@pytest.mark.docker
@pytest.mark.slow
def test_docker_sandbox_blocks_escape_attempts(tmp_path, listener, evalplus_cache, eval_image):
    """The container runtime with the real evaluation image: the escape attempts of test_sandbox.py
    (inside solutions that still pass) are all blocked, and the score is unchanged."""
    result, escaped = score_escape_attempts(tmp_path, listener, {"runtime": "docker", "image": eval_image})
    assert result["sandbox"] == "docker" and result["pass@1"] == {"base": 1.0, "plus": 1.0}
    assert escaped == {"file": False, "process": False, "network": False}


def test_rules_talking_to_a_live_teacher_get_a_network(workdir):
    """In Docker a step runs with `--network none` unless it must reach a live teacher (or is listed)."""
    images = {env: "sha256:" + "1" * 64 for env in ("data", "train", "eval")}

    def docker_shell(rule, *args, **kw):
        """The shell (its `shell_exec` resource) a dry run plans for the first job of `rule`."""
        out = run_snakemake(workdir, "-n", "--configfile", docker_config(workdir, **images), *args, **kw).stdout
        block = re.search(rf"^ *rule {rule}:$.*?shell_exec=(\S+)", out, re.M | re.S)
        return Path(block[1]).read_text()

    assert "--network none" in docker_shell("generate")  # the default replays recorded answers
    live = workdir / "live.yaml"
    live.write_text("teacher: {backend: openai, base_url: 'http://127.0.0.1:9/v1'}\n")
    assert "--network bridge" in docker_shell("generate", str(live), env={"OPENAI_API_KEY": "k"})
    assert "--network none" in docker_shell("seeds", str(live), env={"OPENAI_API_KEY": "k"})


# A fresh machine: the repo's debootstrap base (Debian 12 minbase: no python3, no bubblewrap, no venv).
# `make run` there as root (tests/setup/fresh-machine-run.sh) runs in the background from collection on
# (conftest.Background): minutes of apt, pip and the whole offline run. As a normal user it stops at once.
RUN_PACKAGES = "python3 python3-venv bubblewrap"


def test_fresh_machine_without_root_is_told_what_to_install(images):
    base = sh(str(REPO / "containers/build-base.sh"))
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "65534:65534", "-v", f"{REPO}:/repo:ro",
                           "-w", "/repo", base, "bash", "tests/setup/system-deps.sh", "run"], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (f"missing system packages: {RUN_PACKAGES}; install them as root: apt-get install "
                           f"{RUN_PACKAGES}, then run this command again\n")


def test_fresh_machine_make_run_sets_itself_up_and_reaches_the_report(background):
    status, out, err = background.result("fresh-machine", timeout=2400)
    assert status == 0, out[-3000:] + err[-3000:]
    assert f"installing Debian packages: {RUN_PACKAGES}\n" in out   # system-deps.sh run, as root
    assert "installing the Python packages of envs/cpu.txt into .venv" in out   # no venv before
    assert re.search(r"^done in \d+ s from the start of make run; report: results/report/index.html$", out, re.M), out[-3000:]
    assert re.search(r"^fresh machine: clone to report in \d+ s$", out, re.M)
    rows = [json.loads(line.removeprefix("report: ")) for line in out.splitlines() if line.startswith("report: ")]
    assert [row["model"] for row in rows] == ["base", "stage1", "stage2"]   # each scored by this run
    assert all(set(row["scores"]) == {"humaneval", "humaneval+", "mbpp", "mbpp+"} for row in rows), rows
