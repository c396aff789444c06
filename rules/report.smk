# The report: one self-contained HTML page from seeds to scores, plus its plots with captions for
# `snakemake --report`. Its inputs are the stage outputs this config's DAG builds. They are listed by
# input functions, which run after every rule file is read, and they name other rules' outputs
# (`rules.<name>.output`), so a renamed output breaks here loudly instead of going missing silently.
import re

REPORT_DIR = f"{RESULTS}/report"
EVAL_RESULT = re.compile(rf"^{re.escape(RESULTS)}/eval/(?P<model>[^/]+)/(?P<benchmark>[^/]+)\.json$")


def per_language(pattern):
    return {lang: expand(pattern, lang=lang)[0] for lang in languages()}


def trained_stages():
    """Training stages in this run: a stage whose checkpoint is a target, and every stage before it."""
    stages = ["stage1", "stage2"]
    targets = set(other_targets())
    last = max((i for i, s in enumerate(stages) if checkpoint_dir(s) in targets), default=-1)
    return stages[: last + 1]


def other_targets():
    return [t for t in all_targets() if not t.startswith(f"{REPORT_DIR}/")]


def report_sources():
    """Role -> path(s) of every stage output the report reads: the page's layout of the run."""
    sources = {
        "seeds": per_language(rules.seeds.output[0]),
        "responses": per_language(rules.generate.output.responses),
        "ledgers": per_language(rules.generate.output.ledger),
        "records": per_language(rules.parse.output.records),
        "parse_stats": per_language(rules.parse.output.stats),
        "clean": rules.clean.output.data,
        "clean_stats": rules.clean.output.stats,
        "kept": rules.decontaminate.output.kept,
        "removed": rules.decontaminate.output.removed,
        "decontamination": rules.decontaminate.output.summary,
        "evol_removed": rules.evol_instruct.output.removed,
        "evol_decontamination": rules.evol_instruct.output.summary,
        "train_logs": {s: getattr(rules, f"train_{s}").output.log for s in trained_stages()},
        "eval": {},
    }
    for target in other_targets():
        m = EVAL_RESULT.match(target)
        if m:
            sources["eval"].setdefault(m["model"], {})[m["benchmark"]] = target
    return sources


def report_input_files(wildcards):
    def flat(value):
        if isinstance(value, dict):
            return [p for v in value.values() for p in flat(v)]
        return [str(value)]

    return flat(report_sources()) + other_targets()


def benchmark_globs(wildcards):
    """Rule -> glob of its `benchmark:` files; the run times are read when the report runs, after them all."""
    return as_json({r.name: re.sub(r"\{[^}]*\}", "*", str(r.benchmark)) for r in workflow.rules if r.benchmark})


localrules:
    report,


rule report:
    input:
        report_input_files,
    output:
        html=report(f"{REPORT_DIR}/index.html", caption="../report/index.rst", category="Report"),
        summary=f"{REPORT_DIR}/summary.json",
        funnel=report(f"{REPORT_DIR}/funnel.png", caption="../report/funnel.rst", category="Data"),
        lengths=report(f"{REPORT_DIR}/lengths.png", caption="../report/lengths.rst", category="Data"),
        training=report(f"{REPORT_DIR}/training.png", caption="../report/training.rst", category="Training"),
        runtimes=report(f"{REPORT_DIR}/runtimes.png", caption="../report/runtimes.rst", category="Run times"),
    params:
        sources=lambda wildcards: as_json(report_sources()),
        benchmarks=benchmark_globs,
        config=lambda wildcards: as_json(config),  # a function: the config holds `{...}` templates
        plot_dir=REPORT_DIR,
    log:
        f"{RESULTS}/logs/report/report.log",
    shell:
        "python -m magicoder_repro.report --inputs {params.sources:q} --benchmarks {params.benchmarks:q} "
        "--config {params.config:q} --html {output.html:q} --summary {output.summary:q} "
        "--plot-dir {params.plot_dir:q} 2>&1 | tee {log:q}"
