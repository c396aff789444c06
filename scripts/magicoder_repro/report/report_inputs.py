"""Which stage outputs the report reads for the current config.

rules/report.smk calls this while Snakemake builds the DAG (so it imports nothing heavy). Paths are
taken from the workflow's own rules (`rules.<name>.output`), not written a second time here: a renamed
output changes the report's inputs with it, and a removed one fails loudly when the DAG is built.
"""
import re

STAGES = ("stage1", "stage2")
EVAL_RESULT = re.compile(r"/eval/(?P<model>[^/]+)/(?P<benchmark>[^/]+)\.json$")


def for_language(pattern, lang: str) -> str:
    return re.sub(r"\{lang(,[^}]*)?\}", lang, str(pattern))


def trained_stages(targets: list[str], checkpoint_dir) -> list[str]:
    """Stages trained in this run: one whose checkpoint is a target, and every stage before it."""
    last = max((i for i, s in enumerate(STAGES) if checkpoint_dir(s) in targets), default=-1)
    return list(STAGES[: last + 1])


def sources(rules, langs: list[str], targets: list[str], checkpoint_dir) -> dict:
    """Role -> path(s) of every stage output the report reads (`targets`: the run's other targets)."""
    per_language = lambda pattern: {lang: for_language(pattern, lang) for lang in langs}  # noqa: E731
    found = {
        "seeds": per_language(rules.seeds.output[0]),
        "responses": per_language(rules.generate.output.responses),
        "ledgers": per_language(rules.generate.output.ledger),
        "records": per_language(rules.parse.output.records),
        "parse_stats": per_language(rules.parse.output.stats),
        "clean": str(rules.clean.output.data),
        "clean_stats": str(rules.clean.output.stats),
        "kept": str(rules.decontaminate.output.kept),
        "removed": str(rules.decontaminate.output.removed),
        "decontamination": str(rules.decontaminate.output.summary),
        "evol_removed": str(rules.evol_instruct.output.removed),
        "evol_decontamination": str(rules.evol_instruct.output.summary),
        "train_logs": {s: str(getattr(rules, f"train_{s}").output.log) for s in trained_stages(targets, checkpoint_dir)},
        "eval": {},
    }
    for target in targets:
        m = EVAL_RESULT.search(target)
        if m:
            found["eval"].setdefault(m["model"], {})[m["benchmark"]] = target
    return found


def files(found) -> list[str]:
    """Every path in a `sources` result, for the rule's `input:`."""
    if isinstance(found, dict):
        return [p for value in found.values() for p in files(value)]
    return [str(found)]


def benchmark_globs(workflow_rules) -> dict[str, str]:
    """Rule -> glob of its `benchmark:` files; the report reads them when it runs, after every other job."""
    return {r.name: re.sub(r"\{[^}]*\}", "*", str(r.benchmark)) for r in workflow_rules if r.benchmark}
