"""The OpenAI Batch API as the teacher (teacher.batch.enabled): the same requests at the batch price.

The requests the cache cannot answer are written as a batch input file, one `{"custom_id": request
key, "method": "POST", "url": "/v1/chat/completions", "body": request}` line each (the body exactly as
the chat API would get it, so an answer lands under the same cache key), uploaded through the Files
API (purpose "batch"), submitted through the Batches API and polled until the batch ends. Its answers
go into the response cache (their own file there, budget.BATCH_CACHE_FILE, so that the budget prices
them at the batch rate), its failures are asked again as teacher.batch.retry says: in a new batch, once
per remaining attempt; through the chat API; or not at all (reported, and a rerun asks again).

Nothing paid is submitted twice: each batch has a record in <cache>/batches/ (written before the upload,
then with the file id, then with the batch id), and a run killed at any point resumes from it: it polls
the recorded batch, or, killed between submitting and recording, finds the batch by its input file in
the account's list of batches.
"""
import hashlib
import json
import logging
import os
import time
from pathlib import Path

from magicoder_repro.data.budget import BATCH_CACHE_FILE
from magicoder_repro.data.generate import GenerationError, describe, fatal_error, not_cached
from magicoder_repro.core.jsonl import dumps
from magicoder_repro.data.teacher_cache import ResponseCache, response_problem

log = logging.getLogger("magicoder_repro.data.batch_teacher")

ENDPOINT = "/v1/chat/completions"
ENDED = {"completed", "expired", "failed", "cancelled"}
DEFAULTS = {"completion_window": "24h", "poll_interval_s": 60.0, "max_requests": 50000, "retry": "batch",
            "max_attempts": 3}


class Records:
    """The batch records of a cache directory: `<id>.json` (open) and `done/<id>.<batch id>.json`."""

    def __init__(self, cache_dir):
        self.dir = Path(cache_dir) / "batches"

    def open(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.dir.glob("*.json"))]

    def save(self, record: dict) -> None:
        """Atomically and durably: a record is what keeps a killed run from paying twice."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{record['id']}.json"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(json.dumps(record, sort_keys=True))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def close(self, record: dict) -> None:
        """File a merged batch's record and input under done/, named by its batch id."""
        done, name = self.dir / "done", f"{record['id']}.{record['batch_id']}"
        done.mkdir(exist_ok=True)
        os.replace(self.input_path(record), done / f"{name}.input.jsonl")
        os.replace(self.dir / f"{record['id']}.json", done / f"{name}.json")

    def input_path(self, record: dict) -> Path:
        return self.dir / f"{record['id']}.input.jsonl"


class BatchTeacher:
    """One run's use of the Batch API: submit, poll, merge, retry (see the module's docstring)."""

    def __init__(self, teacher: dict, cache: ResponseCache, runtime: dict, stats):
        import openai

        self.settings = {**DEFAULTS, **(runtime.get("batch") or {})}
        self.teacher, self.stats = teacher, stats
        self.records = Records(cache.dir)
        self.answers_file = ResponseCache(cache.dir, BATCH_CACHE_FILE)
        self.key_env = teacher.get("api_key_env") or "OPENAI_API_KEY"
        self.client = openai.OpenAI(api_key=os.environ[self.key_env], base_url=teacher.get("base_url"),
                                    max_retries=runtime["max_retries"], timeout=runtime["timeout_s"])
        self.url = str(self.client.base_url).rstrip("/")

    def call(self, what: str, fn, *args, **kwargs):
        """An API call; what no retry fixed is one line naming the call (and the key, model, URL)."""
        import openai

        try:
            return fn(*args, **kwargs)
        except openai.APIError as e:
            fatal = fatal_error(e, self.teacher, self.url, self.key_env, preflight=True)
            raise fatal or GenerationError(
                f"Batch API {what} at {self.url} failed: {describe(e)[:300]}; rerun to resume (the batches "
                f"recorded in {self.records.dir} are polled again, not resubmitted)") from None

    def submit(self, requests: dict[str, dict]) -> dict:
        """Write, record, upload and submit one batch of requests; the record, with its batch id."""
        data = "".join(dumps({"custom_id": key, "method": "POST", "url": ENDPOINT, "body": body}) + "\n"
                       for key, body in requests.items()).encode("utf-8")
        record = {"id": hashlib.sha256(data).hexdigest()[:32], "keys": list(requests), "state": "written"}
        self.records.dir.mkdir(parents=True, exist_ok=True)
        self.records.input_path(record).write_bytes(data)
        self.records.save(record)
        return self.ensure_submitted(record)

    def ensure_submitted(self, record: dict) -> dict:
        if "input_file_id" not in record:
            data = self.records.input_path(record).read_bytes()
            uploaded = self.call("file upload", self.client.files.create,
                                 file=(f"{record['id']}.jsonl", data, "application/jsonl"), purpose="batch")
            record.update(input_file_id=uploaded.id, state="uploaded")
            self.records.save(record)
        if "batch_id" not in record:
            found = [b for b in self.call("batch list", self.client.batches.list, limit=100)
                     if b.input_file_id == record["input_file_id"]]
            batch = found[0] if found else self.call(
                "batch create", self.client.batches.create, input_file_id=record["input_file_id"], endpoint=ENDPOINT,
                completion_window=self.settings["completion_window"], metadata={"magicoder_repro_batch": record["id"]})
            record.update(batch_id=batch.id, state="submitted")
            self.records.save(record)
            self.stats["batch_submitted"] += len(record["keys"])
            log.info("batch %s submitted: %d requests (record %s)", batch.id, len(record["keys"]), record["id"])
        return record

    def wait(self, records: list[dict]) -> list:
        """Poll until every batch has ended; the batch objects, in the records' order."""
        ended = {}
        while True:
            for record in records:
                if record["batch_id"] not in ended:
                    batch = self.call("batch poll", self.client.batches.retrieve, record["batch_id"])
                    counts = batch.request_counts
                    log.info("batch %s: %s (%s)", batch.id, batch.status, counts and counts.model_dump())
                    if batch.status in ENDED:
                        ended[batch.id] = batch
            if len(ended) == len(records):
                return [ended[record["batch_id"]] for record in records]
            time.sleep(self.settings["poll_interval_s"])

    def results(self, batch) -> tuple[dict[str, dict], dict[str, str]]:
        """key -> answer and key -> why not, from a batch's output and error files."""
        from openai.types.chat import ChatCompletion

        good, bad = {}, {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            text = self.call("result download", self.client.files.content, file_id).text
            for line in filter(str.strip, text.splitlines()):
                row = json.loads(line)
                response = row.get("response") or {}
                body = response.get("body")
                problem = (row.get("error") or {}).get("message") or (
                    f"HTTP {response.get('status_code')}" if response.get("status_code") != 200 else response_problem(body))
                if problem:
                    bad[row["custom_id"]] = f"batch {batch.status}: {problem}"[:300]
                else:   # stored as the chat API's answers are (the client's model, dumped), so both read alike
                    good[row["custom_id"]] = ChatCompletion.construct(**body).model_dump(mode="json")
        return good, bad

    def merge(self, record: dict, batch) -> tuple[dict[str, dict], dict[str, str]]:
        """Save a finished batch's answers to the cache and close its record; (answers, failures)."""
        good, bad = self.results(batch)
        requests = {}
        with open(self.records.input_path(record), "rb") as f:
            for line in f:
                row = json.loads(line)
                requests[row["custom_id"]] = row["body"]
        self.answers_file.append_many([(key, requests[key], body) for key, body in good.items() if key in requests])
        errors = "; ".join(e.message or "" for e in (batch.errors.data or [])) if batch.errors else ""
        for key in record["keys"]:
            if key not in good and key not in bad:
                bad[key] = f"batch {batch.status}: no result" + (f" ({errors[:200]})" if errors else "")
        self.records.close(record)
        self.stats["batch_answered"] += len(good)
        self.stats["batch_failed"] += len(bad)
        log.info("batch %s %s: %d answers cached, %d requests failed", batch.id, batch.status, len(good), len(bad))
        return good, bad

    def round(self, todo: dict[str, dict]) -> tuple[dict[str, dict], dict[str, str]]:
        """One pass: resume the recorded batches that hold requests of `todo`, submit the rest, wait."""
        records = [self.ensure_submitted(r) for r in self.records.open() if set(r["keys"]) & set(todo)]
        covered = {key for record in records for key in record["keys"]}
        rest = [key for key in todo if key not in covered]
        size = self.settings["max_requests"]
        for start in range(0, len(rest), size):
            records.append(self.submit({key: todo[key] for key in rest[start:start + size]}))
        answers, failures = {}, {}
        for record, batch in zip(records, self.wait(records)):
            good, bad = self.merge(record, batch)
            answers.update(good)
            failures.update(bad)
        return answers, {k: v for k, v in failures.items() if k not in answers}


def ask(jobs, teacher: dict, cache: ResponseCache, runtime: dict, stats, chat=None):
    """Like generate.ask, through the Batch API; `chat(jobs, stats)` asks the chat API (retry: chat)."""
    wanted, answers, todo = not_cached(jobs, cache, runtime, stats)
    log.info("%d requests: %d answered by the cache, %d for the Batch API", len(wanted), len(answers), len(todo))
    if not todo:
        return answers, set(), {}
    key_env = teacher.get("api_key_env") or "OPENAI_API_KEY"
    if not os.environ.get(key_env):
        raise GenerationError(f"teacher.batch.enabled and {len(todo)} requests are not cached, but the environment "
                              f"variable {key_env} (teacher.api_key_env) is not set; export the API key there")
    teacher_api = BatchTeacher(teacher, cache, runtime, stats)
    settings, remaining, failures = teacher_api.settings, dict(todo), {}
    for attempt in range(settings["max_attempts"] if settings["retry"] == "batch" else 1):
        got, failures = teacher_api.round(remaining)
        answers.update(got)
        remaining = {key: todo[key] for key in failures}
        if not remaining:
            break
        log.warning("%d batch requests failed (attempt %d)", len(remaining), attempt + 1)
    stats["requests_sent"] = len(todo)
    if failures and settings["retry"] == "chat" and chat is not None:
        log.info("asking the chat API the %d requests the batches did not answer", len(failures))
        part = type(stats)()
        got, _, failures = chat([job for job in jobs if job.key in failures], part)
        answers.update(got)
        stats.update({name: n for name, n in part.items() if name.startswith("http_") or name == "invalid_body"})
        stats["chat_retries"] = part["requests_sent"]
    return answers, set(todo) - set(failures), failures
