"""What teacher requests cost, and `teacher.budget_usd`, a cap on what the response cache may cost.

Spent = every answer in the cache directory at teacher.price_per_million_tokens (the answers bought
through the Batch API, in their own file there, at teacher.batch.price_factor of it): the cache is the
durable record of what was paid, shared by every job that uses it. A request is counted at its worst
case before it is sent (its prompt tokens, counted or estimated, plus its max_tokens), and requests go
out in rounds that fit in what is left; after each round the usage the teacher reported replaces the
worst case, and the next round fits what is then left. So the cap holds (up to the error of an
estimated prompt length), a request that would pass it is not sent, and a raised cap resumes where the
last run stopped: cached answers are never asked again. Generation jobs running at once take turns
(a lock file beside the cache), so each sees what the others spent.
"""
import fcntl
import logging
import math
from contextlib import contextmanager
from pathlib import Path

from magicoder_repro.core.errors import PipelineError
from magicoder_repro.data.teacher_cache import read_answers

log = logging.getLogger("magicoder_repro.data.budget")

BATCH_CACHE_FILE = "batch.jsonl"   # answers bought through the Batch API (batch_teacher.py)
CHARS_PER_TOKEN = 3                # the estimate without a tokenizer: code runs 3-4 characters a token
MESSAGE_OVERHEAD = 3               # tokens a chat message adds besides its text (OpenAI's count), and the reply's priming


class BudgetExceeded(PipelineError):
    """The next request would take the teacher's spending past teacher.budget_usd."""


class TokenCounter:
    """Prompt tokens of a chat request: with tiktoken's encoding for the model where its file is in
    tiktoken's local cache (a download is refused: this runs offline), else estimated from its length.
    `method` says which, for the plan to print."""

    def __init__(self, model: str):
        self.encoding, self.method = local_encoding(model)

    def text_tokens(self, text: str) -> int:
        if self.encoding is not None:
            return len(self.encoding.encode(text, disallowed_special=()))
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def prompt_tokens(self, request: dict) -> int:
        """OpenAI's count for chat input: each message's role and text plus its framing, plus the reply's."""
        return MESSAGE_OVERHEAD + sum(MESSAGE_OVERHEAD + self.text_tokens(m["role"]) + self.text_tokens(m["content"] or "")
                                      for m in request["messages"])


def local_encoding(model: str):
    """(tiktoken encoding, how prompt tokens are counted); (None, why they are estimated) offline."""
    estimate = f"estimated at {CHARS_PER_TOKEN} characters a token"
    try:
        import tiktoken

        name = tiktoken.encoding_name_for_model(model)
    except ImportError:
        return None, f"{estimate} (tiktoken is not installed)"
    except KeyError:
        return None, f"{estimate} (tiktoken has no encoding for teacher.model {model!r})"
    encoding, why = offline_encoding(name)
    return (encoding, f"counted with tiktoken's {name} encoding") if encoding else (None, f"{estimate} ({why})")


def offline_encoding(name: str):
    """(tiktoken's encoding `name`, None) if its file is in tiktoken's local cache, else (None, why):
    a download is refused, not tried."""
    import tiktoken
    import tiktoken.load

    download = tiktoken.load.read_file

    def refuse_download(blobpath):
        if "://" in blobpath:
            raise OSError(f"{blobpath} is not in tiktoken's local cache")
        return download(blobpath)

    tiktoken.load.read_file = refuse_download
    try:
        return tiktoken.get_encoding(name), None
    except (OSError, ValueError) as e:  # not cached (the refused download), or a corrupt file
        return None, f"tiktoken's {name} encoding could not be loaded offline: {str(e)[:160]}; TIKTOKEN_CACHE_DIR"
    finally:
        tiktoken.load.read_file = download


def cost_usd(prompt_tokens: float, completion_tokens: float, price: dict, factor: float = 1.0) -> float:
    return (prompt_tokens * price.get("input", 0) + completion_tokens * price.get("output", 0)) * factor / 1e6


def batch_price_factor(batch: dict | None) -> float:
    """teacher.batch.price_factor: the Batch API's price over the chat API's."""
    return (batch or {}).get("price_factor", 0.5)


def cached_responses(cache_dir) -> dict[str, dict[str, dict]]:
    """Cache file name -> {key: answer}, for every cache file in the directory."""
    directory = Path(cache_dir)
    files = sorted(directory.glob("*.jsonl")) if directory.is_dir() else []
    return {path.name: read_answers([path])[0] for path in files}


def spent_usd(cache_dir, price: dict, batch: dict | None) -> float:
    """What the answers in the cache directory cost, at teacher.price_per_million_tokens."""
    total = 0.0
    for name, answers in cached_responses(cache_dir).items():
        factor = batch_price_factor(batch) if name == BATCH_CACHE_FILE else 1.0
        for response in answers.values():
            usage = response.get("usage") or {}
            total += cost_usd(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), price, factor)
    return total


def request_factor(batch: dict | None) -> float:
    """The price of a request now over its chat API price."""
    return batch_price_factor(batch) if (batch or {}).get("enabled") else 1.0


def worst_case_usd(request: dict, counter: TokenCounter, teacher: dict, factor: float) -> float:
    return cost_usd(counter.prompt_tokens(request), request["max_tokens"], teacher.get("price_per_million_tokens") or {}, factor)


@contextmanager
def spending_turn(cache_dir):
    """Hold the cache directory's budget lock: jobs that spend from one budget spend one at a time."""
    path = Path(cache_dir)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "budget.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another job spending from teacher.budget_usd (%s)", path / "budget.lock")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def merge_stats(total, part, first: bool) -> None:
    """Add one round's request statistics to the run's (the cache hits are the first round's)."""
    for name, value in part.items():
        if name == "cache_hits":
            if first:
                total[name] = value
        elif isinstance(value, (int, float)):
            total[name] += value
        else:
            total[name] = value


def within_budget(jobs, teacher: dict, runtime: dict, cache, send, stats):
    """Answers to `jobs` through `send(jobs, stats) -> (answers, keys bought, failures)`; with
    runtime["budget_usd"] set, in rounds that each fit in what the budget has left."""
    cap = runtime.get("budget_usd")
    if cap is None:
        return send(jobs, stats)
    counter = TokenCounter(teacher["model"])
    factor, price = request_factor(runtime.get("batch")), teacher.get("price_per_million_tokens") or {}
    with spending_turn(cache.dir):
        cached, _ = cache.load({job.key for job in jobs if job.key})
        unique = {job.key: job for job in jobs if job.key}
        waiting = [job for job in unique.values() if job.key not in cached]
        done = [job for job in jobs if job.key in cached or job.key is None]
        answers, bought, failures, first = {}, set(), {}, True
        while True:
            left = cap - spent_usd(cache.dir, price, runtime.get("batch"))
            chosen, reserved = [], 0.0
            for job in waiting:
                worst = worst_case_usd(job.request, counter, teacher, factor)
                if reserved + worst > left:
                    break
                chosen.append(job)
                reserved += worst
            if not chosen and not first:
                break
            part = type(stats)()
            answers, now, failed = send(done + chosen, part)
            merge_stats(stats, part, first)
            bought |= now
            failures.update(failed)
            done += [job for job in chosen if job.key in answers]
            waiting = waiting[len(chosen):]
            first = False
            if not waiting or not chosen:
                break
    if waiting:
        spent = spent_usd(cache.dir, price, runtime.get("batch"))
        next_cost = worst_case_usd(waiting[0].request, counter, teacher, factor)
        raise BudgetExceeded(
            f"teacher.budget_usd ({cap:g} USD) reached: {spent:.4f} USD spent in {cache.dir}, and the next request "
            f"could cost up to {next_cost:.4f} USD ({len(waiting)} requests not sent); raise teacher.budget_usd "
            "and rerun to continue (what was bought is cached and not asked again)"
        )
    return answers, bought, failures
