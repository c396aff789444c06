"""Where a dataset named in config lives: a local file or directory, or the Hugging Face Hub.

Rules use this to make local data an `input:` (so editing it reruns the rule) and stages use it to pick
a loader; it imports nothing heavy, so Snakemake can call it while building the DAG.
"""
from pathlib import Path

LOCAL_SUFFIXES = {".jsonl", ".json", ".parquet"}


def is_local(dataset: str) -> bool:
    """A local path if it exists or looks like one (a data-file suffix, or starts with / or .)."""
    path = Path(dataset)
    return path.exists() or path.suffix in LOCAL_SUFFIXES or dataset.startswith(("/", "."))


def local_files(dataset: str) -> list[Path]:
    """The files a local dataset consists of: itself, or every non-hidden file under a directory,
    ordered by relative path (so the document order does not depend on the file system)."""
    path = Path(dataset)
    if not path.is_dir():
        return [path]
    files = [p for p in path.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts)]
    return sorted(files, key=lambda p: p.relative_to(path).as_posix())


def local_inputs(dataset: str) -> list[str]:
    """What a rule lists as `input:` for a dataset: its local files, or nothing for a Hub id."""
    return [str(p) for p in local_files(dataset)] if is_local(dataset) else []
