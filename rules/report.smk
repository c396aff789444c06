# The report: one self-contained HTML page from seeds to scores, plus its plots with captions for
# `snakemake --report`. Its inputs are the stage outputs this config's DAG builds, listed from the
# other rules' outputs by magicoder_repro.report.report_inputs. Input functions run after every rule file is
# read, so a stage included after this file is seen too.
from pathlib import Path

from magicoder_repro.report import report_inputs

REPORT_DIR = f"{RESULTS}/report"
REPORT_OTHER_TARGETS = lambda: [t for t in all_targets() if not t.startswith(f"{REPORT_DIR}/")]  # noqa: E731


REPORT_SOURCES = lambda: report_inputs.sources(rules, languages(), REPORT_OTHER_TARGETS(), checkpoint_dir) | report_plus_sources()  # noqa: E731


localrules:
    report,


rule report:
    input:
        lambda wildcards: report_inputs.files(REPORT_SOURCES()) + REPORT_OTHER_TARGETS(),
    output:
        html=report(f"{REPORT_DIR}/index.html", caption="../report/index.rst", category="Report"),
        summary=f"{REPORT_DIR}/summary.json",
        funnel=report(f"{REPORT_DIR}/funnel.png", caption="../report/funnel.rst", category="Data"),
        lengths=report(f"{REPORT_DIR}/lengths.png", caption="../report/lengths.rst", category="Data"),
        training=report(f"{REPORT_DIR}/training.png", caption="../report/training.rst", category="Training"),
        runtimes=report(f"{REPORT_DIR}/runtimes.png", caption="../report/runtimes.rst", category="Run times"),
    params:
        sources=lambda wildcards: as_json({**REPORT_SOURCES(), "languages": languages()}),
        benchmarks=lambda wildcards: as_json(report_inputs.benchmark_globs(workflow.rules)),
        config=lambda wildcards: as_json(config),  # a function: the config holds `{...}` templates
        provenance=f"{RESULTS}/provenance/**/*.json",
        plot_dir=lambda wildcards, output: os.path.dirname(output.html),
        image=image_param("eval"),
    log:
        f"{RESULTS}/logs/report/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/report.tsv"
    container:
        container_image("report", "eval")
    resources:
        **docker_shell("report", "eval"),
    shell:
        "python -m magicoder_repro.report.report --inputs {params.sources:q} --benchmarks {params.benchmarks:q} "
        "--config {params.config:q} --provenance {params.provenance:q} --html {output.html:q} "
        "--summary {output.summary:q} --plot-dir {params.plot_dir:q} 2>&1 | tee {log:q}"
