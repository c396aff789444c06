"""The data stages and evaluation scoring run in their images (real dockerd, images built here from the
pinned lock files on a debootstrap base) give the same results as outside them; the data image's OCI
archive is what the image lock says (skopeo) and runs a rule rootless (umoci, podman), as on a cluster;
an image missing from the lock, or lacking a tool its rule needs, is a clear error before anything runs."""
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

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


@pytest.fixture(scope="session")
def image_lock(images) -> dict:
    """The test image lock build.sh wrote (data with its OCI archive, eval for Docker only), archive
    paths made absolute (build.sh writes them relative to the lock)."""
    lock = Path(images["lock"])
    entries = yaml.safe_load(lock.read_text())
    return {env: {**e, "archive": e["archive"] and str(lock.parent / e["archive"])} for env, e in entries.items()}


def write_lock(workdir: Path, **entries: dict) -> str:
    path = workdir / "images.lock.yaml"
    path.write_text(yaml.safe_dump(entries))
    return str(path)


def docker_config(workdir: Path, lock: str) -> str:
    path = workdir / "docker.yaml"
    path.write_text(f"runtime:\n  docker: true\n  image_lock: {lock}\n")
    return str(path)


def test_data_stages_in_image_match_outside(workdir, tmp_path, images):
    outside = tmp_path / "outside"
    outside.mkdir()
    for entry in workdir.iterdir():
        (outside / entry.name).symlink_to(entry.resolve())
    run_snakemake(outside, *DATA_TARGETS)
    run_snakemake(workdir, *DATA_TARGETS, "--configfile", docker_config(workdir, images["lock"]))
    inside, reference = result_digests(workdir), result_digests(outside)
    assert "sft/stage1.jsonl" in reference and len(reference) > 10
    assert inside == reference


def test_steps_really_run_in_the_image(workdir, image_lock):
    """An image without the packages fails the steps: they do not quietly run on the host."""
    base = sh(str(REPO / "containers/build-base.sh"))
    bare = {"id": sh("docker", "image", "inspect", "--format", "{{.Id}}", base), "tools": ["bash"]}
    config = docker_config(workdir, write_lock(workdir, **{**image_lock, "data": bare}))
    proc = run_snakemake(workdir, "results/seeds/python.jsonl", "--configfile", config, check=False)
    assert proc.returncode != 0
    assert not (workdir / "results/seeds/python.jsonl").exists()


def test_missing_image_is_a_clear_error(workdir, image_lock):
    missing = {"id": "sha256:" + "0" * 64, "tools": ["python3"]}
    config = docker_config(workdir, write_lock(workdir, **{**image_lock, "data": missing}))
    proc = run_snakemake(workdir, "results/seeds/python.jsonl", "--configfile", config, check=False)
    assert proc.returncode != 0
    assert f"image {missing['id']} (the image lock's data.id) is not on this Docker host" in proc.stdout + proc.stderr


def dag_error(proc) -> str:
    """The error line of a run stopped before any job started (while Snakemake planned them)."""
    assert proc.returncode != 0 and "Finished jobid" not in proc.stdout + proc.stderr
    return next(line for line in (proc.stdout + proc.stderr).splitlines() if "image 'data'" in line or "lacks" in line)


def test_image_missing_from_the_lock_stops_the_dag(workdir, image_lock):
    """On the HPC path (`--sdm apptainer`) and on Docker: named rule and lock key, before anything runs."""
    lock = write_lock(workdir, **{env: e for env, e in image_lock.items() if env != "data"})
    apptainer = workdir / "apptainer.yaml"
    apptainer.write_text(f"runtime: {{image_lock: {lock}}}\n")
    for how in (["--sdm", "apptainer", "--configfile", str(apptainer)], ["--configfile", docker_config(workdir, lock)]):
        line = dag_error(run_snakemake(workdir, "results/seeds/python.jsonl", *how, check=False))
        assert not (workdir / "results").exists()
        assert line.endswith(f"seeds: image 'data' is not in the image lock {lock} (key data): build it with `containers/build.sh data`")


def test_image_lacking_a_tool_its_rule_needs_stops_the_dag(workdir, image_lock):
    """The tools build.sh found in each image (eval: the sandbox and the MultiPL-E toolchains; data:
    only Python) against what rules need: a MultiPL-E compiler for scoring, srun for multi-node training."""
    assert {"bwrap", "g++", "javac", "node", "php", "rustc"} <= set(image_lock["eval"]["tools"])
    assert "g++" not in image_lock["data"]["tools"] and "srun" not in image_lock["data"]["tools"]
    data_as_eval = write_lock(workdir, data=image_lock["data"], train=image_lock["data"], eval=image_lock["data"])
    overlay = workdir / "cpp.yaml"
    overlay.write_text("evaluation:\n  benchmarks:\n    multipl-e-cpp: {kind: multipl-e, dataset: nuprl/MultiPL-E, "
                       "name: humaneval-cpp, split: test, max_new_tokens: 512, temperature: 0.2, n: 1}\n")
    samples = workdir / "results/eval/stage2/multipl-e-cpp.samples.jsonl"  # given: only eval_score is planned
    samples.parent.mkdir(parents=True)
    samples.touch()
    proc = run_snakemake(workdir, "-n", "results/eval/stage2/multipl-e-cpp.json", "--allowed-rules", "eval_score",
                         "--configfile", docker_config(workdir, data_as_eval), str(overlay), check=False)
    assert dag_error(proc).endswith(f"eval_score: image 'eval' lacks bwrap, g++ ({data_as_eval}: eval.tools), which this rule "
                                    "needs for model=stage2, benchmark=multipl-e-cpp")
    two_nodes = workdir / "nodes.yaml"
    two_nodes.write_text(f"runtime: {{image_lock: {data_as_eval}}}\ntrain: {{nodes: 2}}\n")
    proc = run_snakemake(workdir, "-n", "results/checkpoints/stage1", "--sdm", "apptainer", "--configfile", str(two_nodes), check=False)
    assert dag_error(proc).endswith(f"train_stage1: image 'train' lacks srun ({data_as_eval}: train.tools), which this rule "
                                    "needs for its job")


# The HPC path without Apptainer (not installable here): the OCI tools it is built on, as a normal user.
ROOTLESS_USER = "oci-test"


def as_user(*cmd: str, cwd: Path) -> list[str]:
    """A command as an unprivileged user (created when root: rootless podman needs its subordinate ids)."""
    if os.getuid() != 0:
        return list(cmd)
    if subprocess.run(["id", ROOTLESS_USER], capture_output=True, check=False).returncode:
        subprocess.run(["useradd", "--create-home", "--shell", "/usr/sbin/nologin", ROOTLESS_USER], check=True)
    return ["runuser", "-u", ROOTLESS_USER, "--", "env", f"HOME={cwd}", f"XDG_RUNTIME_DIR={cwd}/run", *cmd]


def seeds_command(workdir: Path) -> str:
    """The shell command Snakemake plans for the seeds rule of Python."""
    out = run_snakemake(workdir, "-n", "-p", "--forceall", "results/seeds/python.jsonl").stdout
    return re.search(r"^Shell command: (python -m magicoder_repro\.data\.seeds .*)$", out, re.MULTILINE)[1]


@pytest.mark.skipif(os.environ.get("MAGICODER_LONG_TESTS") != "1",
                    reason="set MAGICODER_LONG_TESTS=1: minutes each, over CI's 30-minute budget")
def test_oci_archive_runs_a_rule_rootless(workdir, request, image_lock):
    """The data image's archive holds the digests its lock records (skopeo, through both its OCI and its
    Docker view); a normal user unpacks it (umoci) and runs the seeds rule's command in it with rootless
    podman, read-only image, no network, the work dir bound: the same bytes as the venv's run."""
    entry = image_lock["data"]
    inspect = json.loads(sh("skopeo", "inspect", f"oci-archive:{entry['archive']}"))
    assert inspect["Digest"] == entry["digest"] and Path(entry["archive"]).name == f"data-{entry['digest'].replace(':', '-')}.oci.tar"
    for view in (f"oci-archive:{entry['archive']}", f"docker-archive:{entry['archive']}"):
        config = subprocess.run(["skopeo", "inspect", "--config", "--raw", view], check=True, capture_output=True).stdout
        assert "sha256:" + hashlib.sha256(config).hexdigest() == entry["id"]
    env = json.loads(config)["config"]["Env"]

    run_snakemake(workdir, "results/seeds/python.jsonl")
    reference = (workdir / "results/seeds/python.jsonl").read_bytes()
    command = seeds_command(workdir)
    home = Path(tempfile.mkdtemp(prefix="oci-rootless-", dir="/var/tmp"))  # pytest's tmp_path is root's alone
    request.addfinalizer(lambda: subprocess.run(["rm", "-rf", str(home)], check=True))
    inside = home / "wf"
    shutil.copytree(workdir, inside, symlinks=True, ignore=shutil.ignore_patterns("results", ".snakemake"))
    for out in ("results/seeds", "results/logs/seeds"):
        (inside / out).mkdir(parents=True)
    if os.getuid() == 0:
        as_user("true", cwd=home)  # creates the user
        subprocess.run(["chown", "-R", ROOTLESS_USER, str(home)], check=True)
    steps = [["skopeo", "copy", "--quiet", f"oci-archive:{entry['archive']}", f"oci:{home}/layout:data"],
             ["umoci", "raw", "unpack", "--rootless", "--image", f"{home}/layout:data", f"{home}/rootfs"],
             ["podman", "--root", f"{home}/storage", "--runroot", f"{home}/run", "--storage-driver", "vfs",
              "--cgroup-manager", "cgroupfs", "--events-backend", "file", "run", "--rm", "--read-only", "--network", "none",
              "--userns", "keep-id", *(a for e in env for a in ("--env", e)), "--env", f"PYTHONPATH={REPO}/scripts",
              "--volume", f"{REPO}:{REPO}:ro", "--volume", f"{inside}:{inside}", "--workdir", str(inside),
              "--rootfs", f"{home}/rootfs", "bash", "-c", command]]
    for step in steps:
        proc = subprocess.run(as_user(*step, cwd=home), capture_output=True, text=True, cwd=home, check=False)
        assert proc.returncode == 0, f"{step[:3]}: {proc.stderr[-3000:]}"
    written = inside / "results/seeds/python.jsonl"
    assert written.read_bytes() == reference and written.stat().st_uid == (home.stat().st_uid)


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
def test_eval_scoring_in_image_matches_outside(workdir, tmp_path, images):
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
    run_snakemake(workdir, *args, docker_config(workdir, images["lock"]))
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
    unbuilt = {"id": "sha256:" + "1" * 64, "tools": ["bwrap"]}
    lock = write_lock(workdir, data=unbuilt, train=unbuilt, eval=unbuilt)

    def docker_shell(rule, *args, **kw):
        """The shell (its `shell_exec` resource) a dry run plans for the first job of `rule`."""
        out = run_snakemake(workdir, "-n", "--configfile", docker_config(workdir, lock), *args, **kw).stdout
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


@pytest.mark.skipif(os.environ.get("MAGICODER_FRESH_MACHINE_TEST") != "1",
                    reason="set MAGICODER_FRESH_MACHINE_TEST=1: ~10 min beside the suite, over CI's budget")
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
