"""`make plan`: what a run will cost before it pays (rule `plan`, rules/plan.smk).

For each stage that asks the teacher, the requests are built exactly as that stage's job builds them
(generate.plan, teacher_tests.plan: same template, same teacher settings, same cache keys), so "to
send" is what the job would send. Nothing is sent and nothing needs a network: prompt tokens are
counted with tiktoken's encoding when its file is in tiktoken's local cache, else estimated (the
output says which); expected output tokens are the mean of the cached answers' completion_tokens,
else max_tokens; the price is teacher.price_per_million_tokens (times teacher.batch.price_factor for
the Batch API). GPU-hours for training and evaluation are estimates from the throughput this project
measured on one H200 (BENCHMARKS.md; the table below names each figure's section).
"""
import argparse
import json
import logging
from pathlib import Path

from magicoder_repro.plus import teacher_tests

from magicoder_repro.data import budget, generate
from magicoder_repro.core.errors import one_line_errors
from magicoder_repro.core.jsonl import read_jsonl, write_json
from magicoder_repro.data.requests import load_template

# Measured on one H200 (BENCHMARKS.md); tokens/s of train.py's own log, by architecture and recipe.
TRAIN_TOKENS_PER_S = {
    ("6.7b", "fast"): 14101, ("6.7b", "paper"): 3595,
    ("1.3b", "fast"): 63518, ("1.3b", "paper"): 5678,
}
TRAIN_SOURCE = "BENCHMARKS.md, Training throughput (H200, random-init DeepSeek-Coder architectures)"
# Hours per benchmark for a 6.7B model on one H200, all tasks (task count), and the source.
EVAL_HOURS = {
    "humaneval": (0.014, 164), "mbpp": (0.02, 378), "ds1000": (2.4, 1000), "multipl-e": (0.45, 161),
}
EVAL_SOURCE = ("BENCHMARKS.md, Evaluation generation speed: paper-preset extrapolation (DS-6.7B architecture, "
               "every sample full length; MultiPL-E at the top of its 0.7-2.7 h range for 6 languages)")
SFT_TOKENS_ASSUMED = 500   # tokens a training record where none exists yet (BENCHMARKS.md's assumed shape)
TEMPLATE_TOKENS = 60       # the instruction template around a record (same source)
EVOL_RECORDS_HUB = 110000  # ise-uiuc/Magicoder-Evol-Instruct-110K, when only its Hub id is configured

log = logging.getLogger("magicoder_repro.data.plan")


def expected_output(answers: dict[str, dict], keys: set[str], max_tokens: int) -> tuple[float, str]:
    """Mean completion tokens of the cached answers to `keys` (else of any cached answer), or max_tokens."""
    for pool, what in ((keys & answers.keys(), "this stage's"), (answers.keys(), "all")):
        tokens = [(answers[k].get("usage") or {}).get("completion_tokens") for k in pool]
        tokens = [t for t in tokens if isinstance(t, int)]
        if tokens:
            return min(sum(tokens) / len(tokens), max_tokens), f"mean of {len(tokens)} cached answers ({what})"
    return max_tokens, "max_tokens (no cached answers)"


def stage_row(name: str, jobs, answers: dict, counter: budget.TokenCounter, price: dict, factor: float, teacher: dict) -> dict:
    """Requests, what the cache lacks, their tokens and price, for one stage's jobs."""
    keyed = {job.key: job.request for job in jobs if job.key}
    todo = {k: r for k, r in keyed.items() if k not in answers}
    per_answer, output_source = expected_output(answers, set(keyed), teacher["max_tokens"])
    prompt = sum(counter.prompt_tokens(r) for r in todo.values())
    output = sum(min(per_answer, r["max_tokens"]) for r in todo.values())
    return {"stage": name, "requests": len(keyed), "skipped_too_long": len(jobs) - len(keyed), "cached": len(keyed) - len(todo),
            "to_send": len(todo), "prompt_tokens": prompt, "output_tokens": round(output), "output_tokens_from": output_source,
            "output_per_request": round(per_answer), "price_usd": round(budget.cost_usd(prompt, output, price, factor), 4),
            "exact": True}


def teacher_tests_estimate(lang: str, seeds: int, generation: dict, template: str, counter, price, factor) -> dict:
    """The teacher-tests stage before its records exist: at most one request per seed, each the
    template plus a generated answer, answered at generation's length (estimates)."""
    per_answer = generation["output_per_request"]
    prompt, output = seeds * (counter.text_tokens(template) + per_answer), seeds * per_answer
    return {"stage": f"teacher_tests/{lang}", "requests": seeds, "cached": 0, "to_send": seeds, "prompt_tokens": round(prompt),
            "output_tokens": round(output), "output_tokens_from": "as generation's", "output_per_request": per_answer, "exact": False,
            "price_usd": round(budget.cost_usd(prompt, output, price, factor), 4)}


def teacher_rows(config: dict, seeds_paths: list[str], results: Path, cache_dir) -> tuple[list[dict], str]:
    """One row per teacher stage and language; and how prompt tokens were counted."""
    teacher = config["teacher"]
    if teacher.get("token_counter") == "tiktoken":   # generation caps max_tokens with it: the requests depend on it
        encoding, why = budget.offline_encoding("cl100k_base")
        if encoding is None:
            raise generate.GenerationError(f"teacher.token_counter is 'tiktoken' and the requests depend on it, but {why} "
                                           "(generate.require_tiktoken's message says how to provide it)")
    counter = budget.TokenCounter(teacher["model"])
    price = teacher.get("price_per_million_tokens") or {}
    factor = budget.request_factor(teacher.get("batch"))
    answers = {} if teacher["backend"] == "replay" else {
        k: v for file_answers in budget.cached_responses(cache_dir).values() for k, v in file_answers.items()}
    rows = []
    template = load_template(teacher["prompt_template"])
    for path in seeds_paths:
        seeds = read_jsonl(path)
        lang = Path(path).name.split(".")[0]
        row = stage_row(f"generate/{lang}", generate.plan(seeds, teacher, template), answers, counter, price, factor, teacher)
        rows.append(row)
        if lang in config.get("teacher_tests_languages", []):
            tests_template = load_template(config["curation"]["execution_filter"].get("tests_prompt_template", "prompts/execution_tests.txt"))
            records = results / "generate" / f"{lang}.records.jsonl"
            if records.exists():
                jobs = teacher_tests.plan(read_jsonl(records), teacher, tests_template)
                rows.append(stage_row(f"teacher_tests/{lang}", jobs, answers, counter, price, factor, teacher))
            else:
                rows.append(teacher_tests_estimate(lang, len(seeds), row, tests_template, counter, price, factor))
    return rows, counter.method


def model_size(name: str) -> str | None:
    """The measured architecture a base model is closest to, by its name (7B-class counts as 6.7B)."""
    lowered = name.lower()
    for marker, size in (("6.7b", "6.7b"), ("7b", "6.7b"), ("1.3b", "1.3b")):
        if marker in lowered:
            return size
    return None


def unmeasured(base_model: str) -> str:
    if base_model == "tiny":
        return "train.base_model tiny runs on the CPU: no GPU-hours"
    return f"no throughput measured for train.base_model {base_model!r} (BENCHMARKS.md has DeepSeek-Coder 1.3B and 6.7B)"


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def training_records(stage: str, config: dict, results: Path, seeds: int) -> tuple[int, float, str]:
    """(records, tokens a record, where these come from) for a training stage."""
    sft = results / "sft" / f"{stage}.jsonl"
    if sft.exists():
        rows = read_jsonl(sft)
        chars = sum(len(json.dumps(r, ensure_ascii=False)) for r in rows) / max(len(rows), 1)
        return len(rows), chars / budget.CHARS_PER_TOKEN, f"{sft} (tokens estimated from its length)"
    if stage == "stage1":
        return seeds, SFT_TOKENS_ASSUMED, f"at most one record per seed ({SFT_TOKENS_ASSUMED} tokens each, assumed)"
    evol = Path(config["evol"]["dataset"])
    if evol.exists():
        return count_lines(evol), SFT_TOKENS_ASSUMED, f"{evol} ({SFT_TOKENS_ASSUMED} tokens a record, assumed)"
    return EVOL_RECORDS_HUB, SFT_TOKENS_ASSUMED, f"{config['evol']['dataset']} ({SFT_TOKENS_ASSUMED} tokens a record, assumed)"


def training_rows(config: dict, results: Path, seeds: int) -> list[dict]:
    train = config["train"]
    size = model_size(train["base_model"])
    recipe = "paper" if train.get("packing") is False else "fast"
    rows = []
    for stage, settings in train["stages"].items():
        if settings is None:
            continue
        records, tokens, source = training_records(stage, config, results, seeds)
        row = {"stage": f"train/{stage}", "records": records, "tokens": round(records * tokens * settings["epochs"]),
               "records_from": source}
        if size is None:
            row["gpu_hours"], row["throughput_from"] = None, unmeasured(train["base_model"])
        else:
            tps = TRAIN_TOKENS_PER_S[(size, recipe)]
            row["gpu_hours"] = round(row["tokens"] / tps / 3600, 2)
            row["throughput_from"] = f"{tps:,} tokens/s: DS-{size.upper()} {recipe} recipe, {TRAIN_SOURCE}"
        rows.append(row)
    return rows


def eval_kind(name: str, bench: dict) -> str:
    kind = bench.get("kind", name)
    return "multipl-e" if kind.startswith("multipl-e") else kind


def evaluation_rows(config: dict) -> list[dict]:
    """GPU-hours per evaluated model (this run's models, on the base model's architecture)."""
    size = model_size(config["train"]["base_model"])
    rows = []
    for model, spec in config["evaluation"]["models"].items():
        if spec.get("backend") == "openai" or spec.get("path") not in ("base", "stage1", "stage2"):
            continue
        hours = 0.0
        for name, bench in config["evaluation"]["benchmarks"].items():
            per_full, tasks = EVAL_HOURS.get(eval_kind(name, bench), (None, None))
            if per_full is None or size is None:
                hours = None
                break
            limit = bench.get("limit")
            hours += per_full * (min(limit, tasks) / tasks if limit else 1.0)
        rows.append({"stage": f"eval/{model}", "gpu_hours": hours if hours is None else round(hours, 3),
                     "throughput_from": EVAL_SOURCE if size else unmeasured(config["train"]["base_model"])})
    return rows


def make_plan(config: dict, seeds_paths: list[str], results, cache_dir) -> dict:
    results = Path(results)
    teacher = config["teacher"]
    rows, token_method = teacher_rows(config, seeds_paths, results, cache_dir)
    seeds = sum(count_lines(Path(p)) for p in seeds_paths)
    plan = {
        "backend": teacher["backend"] + (" (Batch API)" if (teacher.get("batch") or {}).get("enabled") else ""),
        "teacher": rows,
        "total": {k: sum(r[k] for r in rows) for k in ("requests", "cached", "to_send", "prompt_tokens", "output_tokens")},
        "prompt_tokens_counted": token_method,
        "price_per_million_tokens": teacher.get("price_per_million_tokens") or {},
        "price_factor": budget.request_factor(teacher.get("batch")),
        "training": training_rows(config, results, seeds),
        "evaluation": evaluation_rows(config),
    }
    plan["total"]["price_usd"] = 0.0 if teacher["backend"] == "replay" else round(sum(r["price_usd"] for r in rows), 4)
    if teacher.get("budget_usd") is not None and teacher["backend"] != "replay":
        spent = budget.spent_usd(cache_dir, plan["price_per_million_tokens"], teacher.get("batch"))
        plan["budget"] = {"budget_usd": teacher["budget_usd"], "spent_usd": round(spent, 4),
                          "after_plan_usd": round(spent + plan["total"]["price_usd"], 4)}
    return plan


def render(plan: dict) -> str:
    """The plan as the terminal shows it."""
    lines = [f"Plan: nothing sent; teacher backend {plan['backend']}",
             f"{'stage':<30}{'requests':>10}{'cached':>9}{'to send':>9}{'prompt tok':>12}{'output tok':>12}{'USD':>10}"]
    for r in plan["teacher"] + [{"stage": "total", **plan["total"], "exact": True}]:
        price = r.get("price_usd", 0.0) if not plan["backend"].startswith("replay") else 0.0
        lines.append(f"{r['stage'] + ('' if r['exact'] else ' (est.)'):<30}{r['requests']:>10,}{r['cached']:>9,}"
                     f"{r['to_send']:>9,}{r['prompt_tokens']:>12,}{r['output_tokens']:>12,}{price:>10.4f}")
    sources = sorted({r["output_tokens_from"] for r in plan["teacher"]})
    lines += [f"prompt tokens: {plan['prompt_tokens_counted']}", f"output tokens: {'; '.join(sources) or '-'}",
              f"price: teacher.price_per_million_tokens {plan['price_per_million_tokens']} x {plan['price_factor']:g}"]
    if plan["backend"].startswith("replay"):
        lines.append("backend replay: answers come from teacher.replay_file; nothing is paid")
    if "budget" in plan:
        b = plan["budget"]
        verdict = "within" if b["after_plan_usd"] <= b["budget_usd"] else "OVER"
        lines.append(f"budget: teacher.budget_usd {b['budget_usd']:g}; spent {b['spent_usd']:.4f} (cache), "
                     f"{b['after_plan_usd']:.4f} after this plan: {verdict}")
    lines.append("GPU-hours (estimates on one H200, from the project's measurements):")
    for r in plan["training"] + plan["evaluation"]:
        hours = "-" if r["gpu_hours"] is None else f"{r['gpu_hours']:,}"
        extra = f"{r['records']:,} records, {r['tokens']:,} tokens ({r['records_from']}); " if "records" in r else ""
        lines.append(f"  {r['stage']:<14} {hours:>8} h  {extra}{r['throughput_from']}")
    return "\n".join(lines) + "\n"


@one_line_errors(generate.GenerationError)
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="JSON: teacher, curation, evol, train, evaluation sections")
    p.add_argument("--seeds", nargs="+", required=True, help="results/seeds/<lang>.jsonl of every language")
    p.add_argument("--cache", required=True, help="the teacher's response cache directory")
    p.add_argument("--results", default="results")
    p.add_argument("--text", required=True)
    p.add_argument("--summary", required=True)
    args = p.parse_args(argv)
    plan = make_plan(json.loads(args.config), args.seeds, args.results, args.cache)
    write_json(args.summary, plan)
    Path(args.text).write_text(render(plan), encoding="utf-8")


if __name__ == "__main__":
    main()
