"""The run's report: one self-contained HTML page from seeds to scores, beside the paper's numbers.

The report reads only what earlier stages wrote; it never reruns or re-derives a stage's decision. A
section whose inputs are not part of this run (no evaluation configured, a run stopped before
training) says so instead of failing, so the page is useful at every point of a long run. Plots are
written as PNG files (the rule marks them for `snakemake --report`) and embedded in the page as data
URIs, so the page can be mailed or archived as one file. A short rich table goes to stdout at the end.
"""
import argparse
import base64
import glob
import hashlib
import json
import platform
import re
import statistics
import sys
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen before pyplot loads)
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from magicoder_repro.core.jsonl import atomic_path, iter_jsonl, write_json  # noqa: E402
from magicoder_repro.core.provenance import PACKAGES as provenance_packages, code_version, package_versions  # noqa: E402
from magicoder_repro.core.errors import one_line_errors

TEMPLATE = Path(__file__).with_name("report.html.j2")
# "execution-checked" and "for SFT" only when the stages beyond the paper run (rules/plus.smk).
FUNNEL_STEPS = ("seeds", "responses", "parsed", "execution-checked", "deduplicated", "decontaminated", "for SFT")
PLOTS = ("funnel", "lengths", "training", "runtimes")
PACKAGES = (*provenance_packages, "matplotlib")

# magicoder.md §6: the EvalPlus leaderboard of 2023-12-05 (pass@1, %), and the paper's MultiPL-E and
# DS-1000 numbers. Keys are the report's column names (`column_name`).
PUBLISHED = {
    "CodeLlama-Python-7B": {"humaneval": 37.8, "humaneval+": 34.1, "mbpp": 57.6, "mbpp+": 45.4},
    "Magicoder-CL-7B": {"humaneval": 60.4, "humaneval+": 55.5, "mbpp": 64.2, "mbpp+": 52.6,
                        "multipl-e-java": 36.4, "multipl-e-js": 45.9, "multipl-e-cpp": 36.5,
                        "multipl-e-php": 39.5, "multipl-e-swift": 33.4, "multipl-e-rs": 30.6, "ds1000": 29.9},
    "MagicoderS-CL-7B": {"humaneval": 70.7, "humaneval+": 66.5, "mbpp": 68.4, "mbpp+": 56.6,
                         "multipl-e-java": 42.9, "multipl-e-js": 57.5, "multipl-e-cpp": 44.4,
                         "multipl-e-php": 47.6, "multipl-e-swift": 44.1, "multipl-e-rs": 40.3, "ds1000": 37.5},
    "DeepSeek-Coder-6.7B-base": {"humaneval": 47.6, "humaneval+": 39.6, "mbpp": 70.2, "mbpp+": 56.6},
    "Magicoder-DS-6.7B": {"humaneval": 66.5, "humaneval+": 60.4, "mbpp": 75.4, "mbpp+": 61.9},
    "MagicoderS-DS-6.7B": {"humaneval": 76.8, "humaneval+": 70.7, "mbpp": 75.7, "mbpp+": 64.4},
    "GPT-3.5-Turbo-1106": {"humaneval": 72.6, "humaneval+": 65.9, "mbpp": 81.7, "mbpp+": 69.4},
}
PUBLISHED_DATA = {"seeds": 80_000, "decontaminated": 75_197, "removed_by_decontamination": 9}


def exists(path) -> bool:
    return bool(path) and Path(path).is_file()


def count_lines(path) -> int:
    return sum(1 for _ in iter_jsonl(path))


def per_lang(path) -> Counter:
    return Counter(r.get("lang", "unknown") for r in iter_jsonl(path))


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def absent(what: str) -> dict:
    return {"absent": f"No {what} in this run."}


# ------------------------------------------------------------------------------------------ data
def funnel(inputs: dict) -> dict:
    """Records left after each step, per language, and why the others went.

    Counts come from the stage outputs themselves (lines per language), not from the stages' own
    statistics, so a stage that miscounts its drops shows up as a mismatch between the two. The last
    step counts `sft`, the records stage 1 trains on: a step of its own when near-dedup or semantic
    decontamination (rules/plus.smk) ran after the substring stage, else the decontaminated set itself.
    """
    langs = inputs.get("languages") or list(inputs.get("seeds", {}))
    if not langs or not all(exists(p) for p in inputs["seeds"].values()):
        return absent("seed files")
    rows = {lang: {"lang": lang, "seeds": count_lines(inputs["seeds"][lang])} for lang in langs}
    reasons = defaultdict(Counter)  # step -> reason -> count (all languages)
    for lang in langs:
        row = rows[lang]
        responses = inputs.get("responses", {}).get(lang)
        if exists(responses):
            answered = skipped = 0
            for r in iter_jsonl(responses):
                if "response" in r:
                    answered += 1
                else:
                    skipped += 1
                    reasons["responses"][f"skipped: {r.get('skipped', 'unknown')}"] += 1
            row["responses"] = answered
        records = inputs.get("records", {}).get(lang)
        if exists(records):
            row["parsed"] = count_lines(records)
        stats = inputs.get("parse_stats", {}).get(lang)
        if exists(stats):
            for reason, n in (read_json(stats).get("dropped") or {}).items():
                reasons["parsed"][reason] += n
        executed = inputs.get("executed", {}).get(lang)
        if exists(executed):
            row["execution-checked"] = count_lines(executed)
        execution = inputs.get("execution", {}).get(lang)
        if exists(execution):
            reasons["execution-checked"]["failed the execution check"] += read_json(execution)["removed"]
    steps = [("deduplicated", inputs.get("clean")), ("decontaminated", inputs.get("kept"))]
    if inputs.get("sft") != inputs.get("kept"):
        steps.append(("for SFT", inputs.get("sft")))
    for step, path in steps:
        if exists(path):
            counts = per_lang(path)
            for lang in langs:
                rows[lang][step] = counts.get(lang, 0)
    if exists(inputs.get("clean_stats")):
        for reason, n in read_json(inputs["clean_stats"]).get("dropped", {}).items():
            reasons["deduplicated"][reason] += n
    if exists(inputs.get("removed")):
        for r in iter_jsonl(inputs["removed"]):
            reasons["decontaminated"][f"matches {r.get('benchmark', 'unknown')}"] += 1
    if exists(inputs.get("near_dedup")):
        reasons["for SFT"]["near duplicate (MinHash)"] += read_json(inputs["near_dedup"])["removed"]
    if exists(inputs.get("semantic")):
        for benchmark, n in read_json(inputs["semantic"])["removed_per_benchmark"].items():
            reasons["for SFT"][f"similar to {benchmark} (embedding)"] += n
    total = {"lang": "total"}
    for step in FUNNEL_STEPS:
        if all(step in row for row in rows.values()):
            total[step] = sum(row[step] for row in rows.values())
    return {
        "steps": [s for s in FUNNEL_STEPS if s in total],
        "rows": list(rows.values()) + [total],
        "reasons": {step: dict((+reasons[step]).most_common()) for step in FUNNEL_STEPS if +reasons[step]},  # + drops zeros
    }


def skipped_reasons(skipped) -> dict:
    """Benchmarks not searched, with why: the summary gives a {name: reason} map (or a bare list)."""
    if isinstance(skipped, dict):
        return skipped
    return {name: "skipped" for name in skipped or []}


def decontamination(inputs: dict, examples_per_benchmark: int = 3) -> dict:
    """Per benchmark: strings searched, records removed, a few removed records with the matched text."""
    sets = {}
    for name, summary_key, removed_key in (
        ("OSS-Instruct", "decontamination", "removed"),
        ("Evol-Instruct", "evol_decontamination", "evol_removed"),
    ):
        if not exists(inputs.get(summary_key)):
            continue
        summary = read_json(inputs[summary_key])
        examples = defaultdict(list)
        if exists(inputs.get(removed_key)):
            for r in iter_jsonl(inputs[removed_key]):
                if len(examples[r.get("benchmark")]) < examples_per_benchmark:
                    text = r.get("problem") or r.get("instruction") or ""
                    examples[r.get("benchmark")].append({"matched": r.get("matched", ""), "text": text})
        sets[name] = {
            "method": summary.get("method"),
            "note": summary.get("note"),
            "kept": summary.get("kept"),
            "removed": summary.get("removed"),
            "skipped": skipped_reasons(summary.get("skipped")),
            "benchmarks": [
                {"name": b, **counts, "examples": examples.get(b, [])}
                for b, counts in (summary.get("benchmarks") or {}).items()
            ],
        }
    return {"sets": sets} if sets else absent("decontamination summary")


def beyond_the_paper(inputs: dict) -> dict:
    """The optional stages' summaries (rules/plus.smk): what near-dedup and embedding / n-gram
    decontamination found that exact dedup and substring matching kept, and execution pass rates."""
    near = read_json(inputs["near_dedup"]) if exists(inputs.get("near_dedup")) else None
    semantic = read_json(inputs["semantic"]) if exists(inputs.get("semantic")) else None
    execution = [{"lang": lang, **read_json(p)} for lang, p in inputs.get("execution", {}).items() if exists(p)]
    if not (near or semantic or execution):
        return {"absent": "The stages beyond the paper (near-dedup, semantic decontamination, execution check) "
                          "were not run: configs/magicoder-plus.yaml turns them on."}
    outcomes = sorted({o for row in execution for o in row["outcomes"]})
    return {"near_dedup": near, "semantic": semantic, "execution": execution, "outcomes": outcomes}


def quantiles(values: list[int]) -> dict:
    if not values:
        return {"n": 0}
    q = statistics.quantiles(values, n=10, method="inclusive") if len(values) > 1 else [values[0]] * 9
    return {"n": len(values), "median": int(statistics.median(values)), "p10": int(q[0]), "p90": int(q[-1])}


def lengths(inputs: dict) -> dict:
    """Characters per problem and per solution in the final OSS-Instruct set (overall and per language)."""
    if not exists(inputs.get("sft")):
        return absent("final OSS-Instruct set")
    values = {"problem": defaultdict(list), "solution": defaultdict(list)}
    for r in iter_jsonl(inputs["sft"]):
        for field in values:
            values[field][r.get("lang", "unknown")].append(len(r.get(field, "")))
    order = inputs.get("languages") or []
    rows = []
    for lang in sorted(values["problem"], key=lambda x: (order.index(x) if x in order else len(order), x)):
        rows.append({"lang": lang, **{f: quantiles(values[f][lang]) for f in values}})
    every = {f: [n for v in values[f].values() for n in v] for f in values}
    rows.append({"lang": "all", **{f: quantiles(every[f]) for f in values}})
    return {"rows": rows, "values": every}


def teacher(inputs: dict) -> dict:
    """Token use, cost, cache hits, retries and errors from each language's generation ledger, and from
    the ledgers of the test requests when the teacher wrote tests (rows `<lang> tests`)."""
    ledgers = {lang: read_json(p) for lang, p in inputs.get("ledgers", {}).items() if exists(p)}
    ledgers |= {f"{lang} tests": read_json(p) for lang, p in inputs.get("test_ledgers", {}).items() if exists(p)}
    if not ledgers:
        return absent("generation ledgers")
    rows, fingerprints = [], Counter()
    for lang, led in ledgers.items():
        total, this_run = led.get("usage_all_answers", {}), led.get("usage_this_run", {})
        rows.append({
            "lang": lang,
            "answered": led.get("answered", 0),
            "requests_sent": led.get("requests_sent", 0),
            "cache_hits": led.get("cache_hits", 0),
            "retries": led.get("retries", 0),
            "errors": sum((led.get("errors_by_type") or {}).values()),
            "prompt_tokens": total.get("prompt_tokens", 0),
            "completion_tokens": total.get("completion_tokens", 0),
            "cost_usd": total.get("cost_usd", 0.0),
            "cost_this_run_usd": this_run.get("cost_usd", 0.0),
        })
        fingerprints.update(led.get("system_fingerprints") or {})
    rows.append({"lang": "total", **{k: sum(r[k] for r in rows) for k in rows[0] if k != "lang"}})
    errors = Counter()
    for led in ledgers.values():
        errors.update(led.get("errors_by_type") or {})
    price = next(iter(ledgers.values())).get("price_per_million_tokens") or {}
    return {"rows": rows, "fingerprints": dict(fingerprints), "errors": dict(errors), "price": price}


# -------------------------------------------------------------------------------------- training
def training(inputs: dict) -> dict:
    """Per stage: the logged steps (loss, learning rate, tokens/s), how often the run resumed, and the
    precision policy it trained under (dtypes, launcher, world size)."""
    stages = {}
    for stage, path in inputs.get("train_logs", {}).items():
        if not exists(path):
            continue
        steps, resumes, precision = [], 0, None
        for r in iter_jsonl(path):
            if "loss" in r:
                steps.append(r)
            resumes += r.get("event") == "resume"
            if r.get("event") == "precision":
                precision = {k: v for k, v in r.items() if k != "event"}
        rates = [s["tokens_per_s"] for s in steps if s.get("tokens_per_s")]
        stages[stage] = {
            "steps": steps,
            "logged": len(steps),
            "last_step": steps[-1]["step"] if steps else None,
            "first_loss": steps[0]["loss"] if steps else None,
            "last_loss": steps[-1]["loss"] if steps else None,
            "median_tokens_per_s": statistics.median(rates) if rates else None,
            "resumes": resumes,
            "precision": precision,
        }
    return {"stages": stages} if stages else absent("training logs")


# ------------------------------------------------------------------------------------ evaluation
LANGUAGE_CODES = {"javascript": "js", "rust": "rs", "c++": "cpp"}


def column_name(name: str, kind: str | None) -> str:
    """The table column of a benchmark, named as PUBLISHED names it where the paper reports it:
    HumanEval/MBPP by kind, MultiPL-E by the language its name ends in, DS-1000 as `ds1000`."""
    if kind in ("humaneval", "mbpp", "ds1000"):
        return kind
    if kind == "multipl-e":
        lang = re.split(r"[-_/]", name.lower())[-1]
        return f"multipl-e-{LANGUAGE_CODES.get(lang, lang)}"
    return name


def pass_at_1(result: dict) -> dict:
    """{column: pass@1 in %} from one score file of the evaluation stage (`evaluate/score.py`).

    EvalPlus scores HumanEval and HumanEval+ (MBPP and MBPP+) in one run: `scores` then holds `base`
    and `plus`, which become two columns. Other benchmarks hold one `pass@1`.
    """
    column = column_name(result["benchmark"], result.get("kind"))
    scores = result.get("scores") or {}
    if "base" in scores or "plus" in scores:
        found = {column: (scores.get("base") or {}).get("pass@1"), f"{column}+": (scores.get("plus") or {}).get("pass@1")}
    else:
        found = {column: scores.get("pass@1")}
    return {k: 100 * v for k, v in found.items() if v is not None}


def evaluation(inputs: dict) -> dict:
    """pass@1 for every evaluated (model, benchmark), the published rows, and each harness self-check."""
    ours, checks, not_run, settings = defaultdict(dict), [], [], {}
    for model, benchmarks in inputs.get("eval", {}).items():
        for benchmark, path in benchmarks.items():
            if not exists(path):
                continue
            result = read_json(path)
            result.setdefault("benchmark", benchmark)
            if result.get("status", "run") != "run":
                not_run.append({"model": model, "benchmark": benchmark, "reason": result.get("reason", "")})
                continue
            ours[model].update(pass_at_1(result))
            check = result.get("self_check") or {}
            if check:
                checks.append({"model": model, "benchmark": benchmark, "ok": check.get("ok"),
                               "tasks": (result.get("dataset") or {}).get("tasks"),
                               "canonical_pass_rate": check.get("canonical_pass_rate"),
                               "broken_pass_rate": check.get("broken_pass_rate"),
                               "exceptions": check.get("documented_exceptions") or {}})
            settings[f"{model} / {benchmark}"] = {**result.get("generation", {}), "engines": result.get("engines", [])}
    if not ours and not not_run:
        return absent("evaluation results")
    columns = sorted({b for scores in ours.values() for b in scores})
    published = {m: s for m, s in PUBLISHED.items() if any(b in s for b in columns)}
    rows = [{"model": m, "source": "this run", "scores": s} for m, s in ours.items()]
    rows += [{"model": m, "source": "published", "scores": s} for m, s in published.items()]
    return {"columns": columns, "rows": rows, "self_checks": checks, "not_run": not_run, "settings": settings}


# ------------------------------------------------------------------------ provenance and run times
def locked_images(config: dict | None) -> dict:
    """The image lock's digest (or, built for Docker only, id) per environment: what containerized steps ran."""
    import yaml

    lock = Path(((config or {}).get("runtime") or {}).get("image_lock") or "containers/images.lock.yaml")
    entries = (yaml.safe_load(lock.read_text()) or {}) if lock.is_file() else {}
    return {env: entry.get("digest") or entry.get("id") for env, entry in entries.items()}


def provenance(provenance_glob: str | None, config_json: str | None) -> dict:
    """What identifies this run: config hash, image references, code version, stage records, versions."""
    records = [{"path": p, "record": read_json(p)} for p in sorted(glob.glob(provenance_glob, recursive=True))] \
        if provenance_glob else []
    code = code_version(Path(__file__).resolve().parents[3])
    commit = code.get("git_commit", "") + ("+changes" if code.get("dirty") else "") or f"code sha256 {code['code_sha256'][:16]}"
    versions = {"python": platform.python_version(),
                **{name: v or "not installed" for name, v in package_versions(PACKAGES).items()}}
    config = json.loads(config_json) if config_json else None
    return {
        "config_sha256": hashlib.sha256(config_json.encode()).hexdigest() if config_json else None,
        "images": locked_images(config),
        "commit": commit,
        "config": json.dumps(config, indent=2, ensure_ascii=False) if config is not None else None,
        "records": records,
        "versions": versions,
    }


def refresh_provenance(html_path, summary_path, plot_dir, provenance_glob: str) -> None:
    """Re-render the page with the stage records the run just wrote. The report job runs before the
    run's `onsuccess:` handler writes them, so without this the page would show the previous run's."""
    report = read_json(summary_path)
    fresh = provenance(provenance_glob, None)
    report["provenance"] = {**fresh, **{k: report["provenance"][k] for k in ("config_sha256", "images", "config")}}
    page = render(report, {name: Path(plot_dir) / f"{name}.png" for name in PLOTS})
    with atomic_path(html_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    write_json(summary_path, report)


def job_label(pattern: str, path: str) -> str:
    """What tells one job of a rule from another: the path from the pattern's first wildcard on."""
    if "*" not in pattern:
        return "–"
    start = pattern.index("*")
    return path[start:].removesuffix(".tsv")


def runtimes(benchmark_globs: dict) -> dict:
    """Wall-clock seconds and peak memory per job, from Snakemake's `benchmark:` files of each rule."""
    rows = []
    for rule, pattern in benchmark_globs.items():
        for path in sorted(glob.glob(pattern)):
            with open(path, encoding="utf-8") as f:
                lines = [line.rstrip("\n").split("\t") for line in f if line.strip()]
            if len(lines) < 2:
                continue
            header, values = lines[0], lines[-1]  # last line: the last repeat
            row = dict(zip(header, values))
            rows.append({
                "rule": rule,
                "job": job_label(pattern, path),
                "seconds": float(row.get("s", "nan")),
                "max_rss_mb": float(row["max_rss"]) if row.get("max_rss", "NA") not in ("NA", "-") else None,
            })
    if not rows:
        return absent("benchmark (run time) files")
    per_rule = defaultdict(float)
    for row in rows:
        per_rule[row["rule"]] += row["seconds"]
    return {"rows": rows, "per_rule": dict(per_rule)}


# ------------------------------------------------------------------------------------------ plots
def placeholder(ax, message: str):
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="#666")
    ax.set_axis_off()


def plot_funnel(data: dict, path: Path):
    fig, ax = plt.subplots(figsize=(9, 3.8))
    if "absent" in data:
        placeholder(ax, data["absent"])
    else:
        rows = [r for r in data["rows"] if r["lang"] != "total"]
        width = 0.8 / len(data["steps"])
        for i, step in enumerate(data["steps"]):
            xs = [j + (i - (len(data["steps"]) - 1) / 2) * width for j in range(len(rows))]
            ax.bar(xs, [r[step] for r in rows], width, label=step)
        ax.set_xticks(range(len(rows)), [r["lang"] for r in rows])
        ax.set_ylabel("records")
        ax.set_title("Records left after each step, per language")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    save(fig, path)


def plot_lengths(data: dict, path: Path):
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, field in zip(axes, ("problem", "solution")):
        if "absent" in data:
            placeholder(ax, data["absent"])
            continue
        values = data["values"][field]
        ax.hist(values, bins=min(40, max(5, len(values) // 2)), color="#4c72b0")
        ax.axvline(statistics.median(values), color="#c44e52", linestyle="--", label="median")
        ax.set_xlabel(f"{field} length (characters)")
        ax.set_ylabel("records")
        ax.legend(fontsize=8)
    fig.suptitle("Length of problems and solutions in the final OSS-Instruct set")
    save(fig, path)


def plot_training(data: dict, path: Path):
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, key, label in zip(axes, ("loss", "learning_rate", "tokens_per_s"), ("loss", "learning rate", "tokens/s")):
        if "absent" in data:
            placeholder(ax, data["absent"] if key == "loss" else "")
            continue
        for stage, info in data["stages"].items():
            points = [(s["step"], s[key]) for s in info["steps"] if s.get(key) is not None]
            if points:
                ax.plot(*zip(*points), marker=".", label=stage)
        ax.set_xlabel("optimizer step")
        ax.set_title(label)
        ax.legend(fontsize=8)
    save(fig, path)


def plot_runtimes(data: dict, path: Path):
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.35 * len(data.get("per_rule", [1, 1, 1]))))
    if "absent" in data:
        placeholder(ax, data["absent"])
    else:
        per_rule = sorted(data["per_rule"].items(), key=lambda kv: kv[1])
        ax.barh([r for r, _ in per_rule], [s for _, s in per_rule], color="#55a868")
        ax.set_xlabel("seconds (sum over the rule's jobs)")
        ax.set_title("Run time per rule")
    save(fig, path)


def save(fig, path: Path):
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


# ----------------------------------------------------------------------------------------- output
def build(inputs: dict, benchmark_globs: dict, config_json: str | None, provenance_glob: str | None = None) -> dict:
    return {
        "funnel": funnel(inputs),
        "decontamination": decontamination(inputs),
        "plus": beyond_the_paper(inputs),
        "lengths": lengths(inputs),
        "teacher": teacher(inputs),
        "training": training(inputs),
        "evaluation": evaluation(inputs),
        "provenance": provenance(provenance_glob, config_json),
        "runtimes": runtimes(benchmark_globs),
    }


def fmt(value, digits=1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(report: dict, plots: dict[str, Path]) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.filters["fmt"] = fmt
    return env.get_template(TEMPLATE.name).render(
        r=report,
        plots={name: data_uri(p) for name, p in plots.items()},
        published_data=PUBLISHED_DATA,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


def summary_tables(report: dict) -> list[Table]:
    """The terminal view: the funnel and the pass@1 table (each only when the run has it)."""
    tables = []
    f = report["funnel"]
    if "absent" not in f:
        t = Table(title="Data funnel (records per language)")
        t.add_column("lang")
        for step in f["steps"]:
            t.add_column(step, justify="right")
        for row in f["rows"]:
            t.add_row(row["lang"], *(f"{row[s]:,}" for s in f["steps"]))
        tables.append(t)
    e = report["evaluation"]
    if "absent" not in e:
        t = Table(title="pass@1 (%)")
        t.add_column("model")
        t.add_column("source")
        for column in e["columns"]:
            t.add_column(column, justify="right")
        for row in e["rows"]:
            t.add_row(row["model"], row["source"], *(fmt(row["scores"].get(c)) for c in e["columns"]))
        tables.append(t)
    return tables


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", required=True, help="JSON: role -> path(s), as rules/report.smk lists them")
    p.add_argument("--benchmarks", default="{}", help="JSON: rule name -> glob of its benchmark files")
    p.add_argument("--config", default=None, help="the run's config as canonical JSON (hashed and shown)")
    p.add_argument("--provenance", default=None, help="glob of the stages' provenance records (JSON)")
    p.add_argument("--html", required=True)
    p.add_argument("--summary", required=True, help="the report's numbers as JSON")
    p.add_argument("--plot-dir", required=True, help="where funnel.png, lengths.png, ... are written")
    a = p.parse_args(argv)

    report = build(json.loads(a.inputs), json.loads(a.benchmarks), a.config, a.provenance)
    plot_dir = Path(a.plot_dir)
    plot_dir.mkdir(parents=True, exist_ok=True)
    plots = {name: plot_dir / f"{name}.png" for name in PLOTS}
    plot_funnel(report["funnel"], plots["funnel"])
    plot_lengths(report["lengths"], plots["lengths"])
    plot_training(report["training"], plots["training"])
    plot_runtimes(report["runtimes"], plots["runtimes"])
    page = render(report, plots)
    with atomic_path(a.html) as tmp:
        tmp.write_text(page, encoding="utf-8")
    report["lengths"].pop("values", None)  # raw per-record lengths: in the plot, too long for the summary
    write_json(a.summary, report)

    console = Console(width=120)
    for table in summary_tables(report):
        console.print(table)
    missing = [name for name, section in report.items() if "absent" in section]
    if missing:
        console.print(f"sections without inputs in this run: {', '.join(missing)}")
    console.print(f"report: {a.html}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
