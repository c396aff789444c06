"""OSS-Instruct generation: one teacher request per seed, answered from the cache or by the teacher.

The original asked gpt-3.5-turbo one request at a time. Here requests run `concurrency` at a time,
the `openai` client retries rate limits, server errors, timeouts, dropped connections (honouring
Retry-After) and 200s whose body is not a usable answer (checked as it arrives, below), and each
answer goes to the response cache as soon as it arrives (teacher_cache.py), so an interrupted run
resumes where it stopped. What no retry can fix stops the job at once, in one line naming the URL,
the model and the key's variable, and nothing more is sent: a rejected key (401/403), a model the
server does not have (404), and, on the first request, which goes alone (the preflight), a server
that cannot be reached. Backends:
  openai  any OpenAI-compatible endpoint (OpenAI, vLLM, SGLang, `transformers serve`) via `base_url`
  replay  answers only from a recorded file (a cache file is one); an unanswered request is an error
A request that still fails after its retries is reported, the others finish, and the run exits
non-zero: a rerun asks again only for what failed. Outputs hold no timings, so reruns are byte-equal.
"""
import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass

from magicoder_repro.core.errors import PipelineError, one_line_errors
from magicoder_repro.core.jsonl import read_jsonl, write_json, write_jsonl
from magicoder_repro.data.requests import build_request, load_template, request_key
from magicoder_repro.data.teacher_cache import ResponseCache, read_answers, response_problem

log = logging.getLogger("magicoder_repro.data.generate")

SEED_FIELDS = ("lang", "index", "raw_index", "seed")
CONNECT_TIMEOUT_S = 5.0   # an unreachable base_url fails the preflight within this


class GenerationError(PipelineError):
    """A problem the user must fix (configuration, key, server, missing file); the message says how."""


@dataclass
class Job:
    record: dict           # the seed record
    request: dict | None   # None: skipped (the prompt leaves no room for an answer)
    key: str | None


def plan(seeds: list[dict], teacher: dict, template: str) -> list[Job]:
    """The request for each seed, in index order."""
    jobs = []
    for record in sorted(seeds, key=lambda r: r["index"]):
        missing = [f for f in SEED_FIELDS if f not in record]
        if missing:
            raise GenerationError(f"seed record with index {record.get('index')} lacks {missing}")
        request = build_request(record["seed"], record["index"], teacher, template)
        jobs.append(Job(record, request, request_key(request) if request else None))
    return jobs


def require_tiktoken(timeout_s: float = 30.0) -> None:
    """tiktoken fetches its encoding over the network on first use: offline that fails, or behind a
    silent firewall hangs, so load it up front with a deadline and say what to do."""
    outcome = {}

    def load():
        try:
            import tiktoken

            tiktoken.get_encoding("cl100k_base")
            outcome["ok"] = True
        except Exception as e:  # any failure to load is reported below, with the fix
            outcome["error"] = f"{type(e).__name__}: {e}"

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not outcome.get("ok"):
        reason = outcome.get("error", f"no answer within {timeout_s:.0f} s")
        raise GenerationError(
            "teacher.token_counter is 'tiktoken', but tiktoken's cl100k_base encoding could not be loaded "
            f"({reason[:300]}). tiktoken downloads it on first use. On a machine with internet run "
            "`TIKTOKEN_CACHE_DIR=DIR python -c \"import tiktoken; tiktoken.get_encoding('cl100k_base')\"`, copy DIR "
            "here and set TIKTOKEN_CACHE_DIR=DIR; or set teacher.token_counter: null (no prompt-length cap)."
        )


def replay(jobs: list[Job], replay_file: str | None) -> dict[str, dict]:
    """Answers for every request from the recorded file, or an error naming what is missing or broken."""
    if not replay_file or not os.path.exists(replay_file):
        raise GenerationError(f"teacher.backend is 'replay' but teacher.replay_file ({replay_file!r}) does not exist")
    todo = [job for job in jobs if job.key]
    answers, unusable = read_answers([replay_file], {job.key for job in todo})
    if unusable:
        raise GenerationError(f"{unusable[0]}; a replay file cannot ask again: fix or delete that line "
                              f"({len(unusable)} such lines; teacher.replay_file)")
    missing = [job for job in todo if job.key not in answers]
    if missing:
        first = missing[0].record
        raise GenerationError(
            f"{len(missing)} of {len(todo)} requests have no recorded answer in {replay_file}; the first is "
            f"{first['lang']} seed index {first['index']} (request key {missing[0].key[:16]}, seed {first['seed'][:60]!r}). "
            "A replay file answers only the exact requests it was recorded from: if the seeds, the prompt template "
            "or a teacher setting changed, record new answers by running once with teacher.backend: openai (the "
            "cache file <cache_dir>/teacher/responses.jsonl it writes is itself a replay file)."
        )
    return answers


def cached_answers(cache: ResponseCache, wanted: set[str], on_invalid: str) -> dict[str, dict]:
    """What the cache answers; a line that answers nothing is reported, and a wrong-shaped answer is
    asked again (`rerequest`) or stops the job (`error`), as teacher.invalid_cache_entries says."""
    answers, unusable = cache.load(wanted)
    for entry in unusable:
        if entry.key is None:
            log.warning("%s; skipped", entry)
    invalid = [entry for entry in unusable if entry.key is not None]
    if invalid and on_invalid == "error":
        raise GenerationError(f"{invalid[0]}; fix or delete that line, or set teacher.invalid_cache_entries: "
                              f"rerequest to ask the teacher again ({len(invalid)} such answers)")
    for entry in invalid:
        log.warning("%s; asking the teacher again", entry)
    return answers


def fatal_error(e, teacher: dict, url: str, key_env: str, preflight: bool) -> GenerationError | None:
    """The one-line stop for an error no retry can fix, or None. An unreachable server is one only at
    the preflight: later it may be a passing outage, which the client's retries cover."""
    import openai

    where = f"teacher {url} (teacher.model {teacher['model']!r}, key from ${key_env})"
    body = getattr(e, "body", None)
    reason = body.get("message") if isinstance(body, dict) and body.get("message") else str(e)
    detail = f"HTTP {getattr(e, 'status_code', '?')}: {reason[:200]}"
    if isinstance(e, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return GenerationError(f"{where} refused the key ({detail}); set {key_env} to a key allowed to use this model")
    if isinstance(e, openai.NotFoundError):
        return GenerationError(f"{where} has no such model or endpoint ({detail}); set teacher.model to a model "
                               "this server serves and teacher.base_url to its /v1 address")
    cause = type(e.__cause__).__name__
    if preflight and isinstance(e, openai.APIConnectionError) and cause in ("ConnectError", "ConnectTimeout"):
        return GenerationError(f"cannot connect to {where}: {cause}: {str(e.__cause__)[:200] or 'no answer'}; "
                               "check teacher.base_url and that the server is running")
    return None


def describe(e) -> str:
    cause = f" ({type(e.__cause__).__name__}: {e.__cause__})" if e.__cause__ else ""
    return f"{type(e).__name__}: {e}{cause}"


def not_cached(jobs, cache: ResponseCache, runtime: dict, stats) -> tuple[set, dict, dict]:
    """(keys wanted, answers the cache holds, requests still to send by key); counts the cache hits."""
    wanted = {job.key for job in jobs if job.key}
    answers = cached_answers(cache, wanted, runtime.get("invalid_cache_entries", "rerequest"))
    stats["cache_hits"] = len(answers)
    todo = {job.key: job.request for job in jobs if job.key and job.key not in answers}
    return wanted, answers, todo


async def ask(jobs: list[Job], teacher: dict, cache: ResponseCache, runtime: dict, stats: Counter):
    """Send every request the cache cannot answer; return (answers, keys answered now, failures)."""
    wanted, answers, todo = not_cached(jobs, cache, runtime, stats)
    log.info("%d requests: %d answered by the cache, %d to send", len(wanted), len(answers), len(todo))
    if not todo:
        return answers, set(), {}   # no key needed

    import httpx2
    import openai
    from openai.types.chat import ChatCompletion
    from tqdm import tqdm

    key_env = teacher.get("api_key_env") or "OPENAI_API_KEY"
    api_key = os.environ.get(key_env)
    if not api_key:
        raise GenerationError(
            f"teacher.backend is 'openai' and {len(todo)} requests are not cached, but the environment variable "
            f"{key_env} (teacher.api_key_env) is not set. Export the API key there; a local server that needs no "
            f"key (vLLM, SGLang, transformers serve) still needs the variable set, to any value, e.g. {key_env}=local."
        )

    async def count_attempt(request):
        stats["http_attempts"] += 1

    async def check_response(response):
        # A 200 that is not a usable answer (truncated, no choices) is raised as a transport error,
        # which the client retries with its own backoff, like a dropped connection.
        stats["http_responses"] += 1
        if response.status_code != 200:
            stats[f"http_{response.status_code}"] += 1
            return
        await response.aread()
        try:
            problem = response_problem(json.loads(response.content))
        except ValueError:
            problem = "the body is not valid JSON"
        if problem:
            stats["invalid_body"] += 1
            raise httpx2.DecodingError(f"HTTP 200 without a usable answer: {problem}", request=response.request)

    client = openai.AsyncOpenAI(
        api_key=api_key,
        base_url=teacher.get("base_url"),
        max_retries=runtime["max_retries"],
        timeout=openai.Timeout(runtime["timeout_s"], connect=min(CONNECT_TIMEOUT_S, runtime["timeout_s"])),
        http_client=openai.DefaultAsyncHttpxClient(event_hooks={"request": [count_attempt], "response": [check_response]}),
    )
    url = str(client.base_url).rstrip("/")
    slots = asyncio.Semaphore(runtime["concurrency"])
    failures = {}
    stop = asyncio.Event()
    pending: asyncio.Queue = asyncio.Queue()

    async def save_answers():
        # One writer: every answer waiting when it wakes goes to disk with a single fsync (in a thread,
        # so requests keep flowing); an answer counts as done only once it is durable.
        while True:
            batch = [await pending.get()]
            while not pending.empty():
                batch.append(pending.get_nowait())
            try:
                await asyncio.to_thread(cache.append_many, [entry for entry, _ in batch])
            except BaseException as e:
                for _, done in batch:
                    done.set_exception(e)
                raise
            finally:
                for _ in batch:
                    pending.task_done()
            for _, done in batch:
                done.set_result(None)

    async def one(key, request, preflight=False):
        # The body goes out exactly as cached and hashed; `chat.completions.create` would re-validate
        # it field by field first, the client's main CPU cost at high concurrency.
        try:
            sender = client.with_options(max_retries=0) if preflight else client
            completion = await sender.post("/chat/completions", body=request, cast_to=ChatCompletion)
        except openai.APIError as e:
            fatal = fatal_error(e, teacher, url, key_env, preflight)
            if fatal:
                stop.set()
                raise fatal from None
            failures[key] = describe(e)
            return
        response = completion.model_dump(mode="json")
        saved = asyncio.get_running_loop().create_future()
        await pending.put(((key, request, response), saved))
        await saved
        answers[key] = response
        failures.pop(key, None)

    async def limited(key, request):
        async with slots:
            if stop.is_set():   # a fatal error is being raised: send nothing more
                return
            await one(key, request)
            bar.update()

    start = time.monotonic()
    writer = asyncio.create_task(save_answers())
    tasks = []
    try:
        with tqdm(total=len(todo), desc="teacher", unit="req", file=sys.stderr, mininterval=1.0) as bar:
            # The preflight: one request alone, no retries, so a wrong key, model or URL costs one request.
            first = next(iter(todo))
            await one(first, todo[first], preflight=True)
            rest = {k: r for k, r in todo.items() if k not in answers}
            bar.update(len(todo) - len(rest))
            tasks = [asyncio.create_task(limited(k, r)) for k, r in rest.items()]
            for done in asyncio.as_completed(tasks):
                await done   # a fatal error ends the loop; the finally below cancels what has not finished
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pending.join()   # answers that arrived are saved even when the run stops
        writer.cancel()
        await client.close()
    elapsed = time.monotonic() - start
    stats["requests_sent"] = len(todo)
    log.info("sent %d requests in %.1f s (%.2f requests/s)", len(todo), elapsed, len(todo) / max(elapsed, 1e-9))
    return answers, set(todo) - set(failures), failures


def ledger(rows: list[dict], answers_sent: set[str], stats: Counter, price: dict) -> dict:
    """Token use and cost (all answers, and those bought in this run), retries, errors, fingerprints."""

    def usage(responses):
        responses = list(responses)
        prompt = sum((r.get("usage") or {}).get("prompt_tokens", 0) for r in responses)
        completion = sum((r.get("usage") or {}).get("completion_tokens", 0) for r in responses)
        cost = (prompt * price.get("input", 0) + completion * price.get("output", 0)) / 1e6
        return {"prompt_tokens": prompt, "completion_tokens": completion, "cost_usd": round(cost, 6)}

    answered = [row for row in rows if "response" in row]
    errors = {k: v for k, v in stats.items() if k.startswith("http_") and k not in ("http_attempts", "http_responses")}
    if stats["http_attempts"] > stats["http_responses"]:
        errors["timeout_or_connection"] = stats["http_attempts"] - stats["http_responses"]
    if stats["invalid_body"]:
        errors["invalid_body"] = stats["invalid_body"]
    return {
        "seeds": len(rows),
        "answered": len(answered),
        "skipped": dict(Counter(row["skipped"] for row in rows if "skipped" in row)),
        "cache_hits": stats["cache_hits"],
        "requests_sent": stats["requests_sent"],
        "http_attempts": stats["http_attempts"],
        "retries": max(stats["http_attempts"] - stats["requests_sent"], 0),
        "errors_by_type": dict(sorted(errors.items())),
        "usage_all_answers": usage(row["response"] for row in answered),
        "usage_this_run": usage(row["response"] for row in answered if row["request_key"] in answers_sent),
        "price_per_million_tokens": price,
        "system_fingerprints": dict(sorted(Counter(str(row["response"].get("system_fingerprint")) for row in answered).items())),
        **({"batch_api": {k: v for k, v in sorted(stats.items()) if k.startswith("batch_")}} if any(k.startswith("batch_") for k in stats) else {}),
    }


def answer(jobs: list[Job], teacher: dict, cache_dir, runtime: dict) -> tuple[dict, set[str], Counter]:
    """Answers to every job's request (replayed, or from the cache and the teacher); the keys bought
    now and the request statistics. Requests still failing after their retries stop the run."""
    stats, sent, failures = Counter(), set(), {}
    if teacher["backend"] == "replay":
        answers = replay(jobs, teacher.get("replay_file"))
    else:
        from magicoder_repro.data import batch_teacher, budget

        cache = ResponseCache(cache_dir)

        def chat(round_jobs, round_stats):
            return asyncio.run(ask(round_jobs, teacher, cache, runtime, round_stats))

        def send(round_jobs, round_stats):
            if (runtime.get("batch") or {}).get("enabled"):
                return batch_teacher.ask(round_jobs, teacher, cache, runtime, round_stats, chat)
            return chat(round_jobs, round_stats)

        try:
            answers, sent, failures = budget.within_budget(jobs, teacher, runtime, cache, send, stats)
        finally:
            cache.close()
    if failures:
        by_key = {job.key: job.record for job in jobs}
        for key, error in sorted(failures.items(), key=lambda kv: by_key[kv[0]]["index"]):
            log.error("failed: %s seed index %d: %s", by_key[key]["lang"], by_key[key]["index"], error)
        kinds = Counter(error.split(":")[0] for error in failures.values())
        raise GenerationError(
            f"{len(failures)} requests failed after all retries ({dict(kinds)}); the {len(answers)} answered are "
            "in the cache, so rerunning asks again only for the failed ones"
        )
    return answers, sent, stats


def write_answers(jobs: list[Job], answers: dict, sent: set[str], stats: Counter, teacher: dict,
                  responses_path, ledger_path) -> None:
    """One row per job (its record's seed fields and the answer, or why it was skipped), and the ledger."""
    rows = []
    for job in jobs:
        row = {f: job.record[f] for f in SEED_FIELDS}
        row["request_key"] = job.key
        if job.request is None:
            row["skipped"] = "prompt_too_long"
        else:
            row["response"] = answers[job.key]
        rows.append(row)
    write_jsonl(responses_path, rows)
    write_json(ledger_path, ledger(rows, sent, stats, teacher.get("price_per_million_tokens") or {}))


def run_requests(rows: list[dict], plan_jobs, teacher: dict, template_path, cache_dir, runtime: dict,
                 responses_path, ledger_path) -> None:
    """Plan the requests for `rows` (`plan_jobs(rows, teacher, template)`), answer them (cache first),
    write the responses and the ledger: generation and the teacher's tests both run this."""
    if teacher.get("token_counter") == "tiktoken":
        require_tiktoken()  # before planning: token counts decide which prompts are too long
    jobs = plan_jobs(rows, teacher, load_template(template_path))
    answers, sent, stats = answer(jobs, teacher, cache_dir, runtime)
    write_answers(jobs, answers, sent, stats, teacher, responses_path, ledger_path)


def generate(seeds_path, teacher: dict, template_path, cache_dir, responses_path, ledger_path, runtime: dict) -> None:
    run_requests(read_jsonl(seeds_path), plan, teacher, template_path, cache_dir, runtime, responses_path, ledger_path)


def command_line(argv, description: str, input_flag: str, input_help: str, plan_jobs) -> None:
    """The command line of generate and teacher_tests: one input file, the teacher arguments, and
    `plan_jobs(rows, teacher, template)` to turn the input's rows into requests."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(input_flag, required=True, dest="input", help=input_help)
    p.add_argument("--teacher", required=True, help="JSON: the config's teacher section")
    p.add_argument("--template", required=True)
    # How requests reach the teacher: the rules pass these outside params (TEACHER_RUNTIME_ARGS).
    p.add_argument("--cache", required=True, help="response cache directory, e.g. cache/teacher")
    p.add_argument("--replay-file", help="recorded answers (backend replay); overrides teacher.replay_file")
    p.add_argument("--api-key-env", help="variable holding the API key; overrides teacher.api_key_env")
    p.add_argument("--responses", required=True)
    p.add_argument("--ledger", required=True)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--max-retries", type=int, default=8)
    p.add_argument("--timeout-s", type=float, default=300)
    p.add_argument("--invalid-cache-entries", choices=["rerequest", "error"], default="rerequest")
    p.add_argument("--budget-usd", type=float, help="teacher.budget_usd: the most the response cache may cost")
    p.add_argument("--batch", type=json.loads, default={}, help="JSON: teacher.batch (the Batch API backend)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    teacher = json.loads(args.teacher)
    teacher.update({k: v for k, v in [("replay_file", args.replay_file), ("api_key_env", args.api_key_env)] if v})
    runtime = {"concurrency": args.concurrency, "max_retries": args.max_retries, "timeout_s": args.timeout_s,
               "invalid_cache_entries": args.invalid_cache_entries, "budget_usd": args.budget_usd, "batch": args.batch}
    run_requests(read_jsonl(args.input), plan_jobs, teacher, args.template, args.cache, runtime,
                 args.responses, args.ledger)


@one_line_errors()
def main(argv=None):
    command_line(argv, __doc__.splitlines()[0], "--seeds", "seeds of one language", plan)


if __name__ == "__main__":
    main()
