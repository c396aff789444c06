"""The four benchmark families: where their tasks come from, how a task becomes a prompt, and how a raw
model output becomes a program to run.

HumanEval(+) and MBPP(+) use Magicoder's instruction prompts (paper §5): the model sees the Magicoder
prompt with the answer pre-filled up to the code it must continue, and its output is cut at the closing
fence (MBPP additionally goes through a sanitiser: sanitize.py, the original's by default). MultiPL-E and DS-1000 are completion tasks,
as bigcode-evaluation-harness and DS-1000's own scripts run them: the raw prompt, cut at stop strings.
The EvalPlus files are the vendored official releases, checked by md5 (the hash EvalPlus reports).
"""
import gzip
import hashlib
from pathlib import Path

from magicoder_repro.core.errors import PipelineError
from magicoder_repro.core.jsonl import parse_lines, read_jsonl
from magicoder_repro.core.prompt_format import prompt as magicoder_prompt
from magicoder_repro.evaluate.sanitize import sanitize

KINDS = ("humaneval", "mbpp", "multipl-e", "ds1000")
REPO = Path(__file__).resolve().parents[3]
# md5 of the decompressed official release files; EvalPlus reports the same value as the dataset hash.
EVALPLUS_MD5 = {
    "HumanEvalPlus-v0.1.10.jsonl.gz": "fe585eb4df8c88d844eeb463ea4d0302",
    "MbppPlus-v0.2.0.jsonl.gz": "ee43ecabebf20deef4bb776a405ac5b1",
}
FENCE = "```"


class UnknownBenchmark(PipelineError, ValueError):
    """A benchmark kind or name the pipeline does not know."""


def kind_of(bench: dict) -> str:
    kind = bench.get("kind")
    if kind not in KINDS:
        raise UnknownBenchmark(f"benchmark {bench.get('benchmark')!r}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    return kind


def read_evalplus(path) -> tuple[list[dict], str]:
    """Tasks of a vendored EvalPlus release, and the md5 of its decompressed bytes (checked if known)."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = REPO / path
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    md5 = hashlib.md5(raw).hexdigest()
    want = EVALPLUS_MD5.get(path.name)
    if want and md5 != want:
        raise ValueError(f"{path}: md5 of decompressed data is {md5}, expected {want} (file changed or corrupt)")
    return list(parse_lines(raw.splitlines(), path)), md5


def read_hub_or_local(bench: dict) -> list[dict]:
    """Rows of a Hub dataset (the real path) or of a local JSONL file in the same schema (tests, mirrors)."""
    source = bench["dataset"]
    if source.endswith(".jsonl"):
        rows = read_jsonl(source if Path(source).exists() else REPO / source)
    else:
        from magicoder_repro.core import hub

        rows = list(hub.load_dataset(source, name=bench.get("name"), split=bench.get("split", "test"),
                                     revision=bench.get("revision")))
    return rows


def select(rows: list[dict], bench: dict) -> list[dict]:
    limit = bench.get("limit")
    return rows[:limit] if limit else rows


# ---------------------------------------------------------------- prompts
def humaneval_task(p: dict) -> dict:
    code = p["prompt"].strip()
    instruction = f"Write a solution to the following problem:\n{FENCE}python\n{code}\n{FENCE}"
    prefix = f"{FENCE}python\n{code}"
    return {"task_id": p["task_id"], "instruction": instruction, "prefix": prefix, "code_prefix": code}


def mbpp_task(p: dict) -> dict:
    body = p["prompt"][p["prompt"].index('"""') + 3:p["prompt"].rindex('"""')]
    cut = body.index("assert")
    text, assertion = body[:cut].strip(), body[cut:].strip()
    if not text.endswith("."):
        text += "."
    instruction = f"{text} Your code should satisfy the following assertion:\n{FENCE}python\n{assertion}\n{FENCE}"
    return {"task_id": p["task_id"], "instruction": instruction, "prefix": f"{FENCE}python", "code_prefix": "",
            "entry_point": p["entry_point"]}


def load_tasks(bench: dict) -> list[dict]:
    """Tasks with the exact model input (`prompt`); `chat` marks instruction tasks for chat-only servers."""
    kind = kind_of(bench)
    if kind in ("humaneval", "mbpp"):
        rows, _ = read_evalplus(bench["dataset"])
        tasks = [(humaneval_task if kind == "humaneval" else mbpp_task)(p) for p in select(rows, bench)]
        for t in tasks:
            t["prompt"] = magicoder_prompt(t["instruction"]) + t["prefix"]
            t["chat"] = True
        return tasks
    rows = select(read_hub_or_local(bench), bench)
    if kind == "multipl-e":
        return [{"task_id": r["name"], "prompt": r["prompt"], "chat": False, "stop": r["stop_tokens"]} for r in rows]
    return [{"task_id": str(r["metadata"]["problem_id"]), "prompt": r["prompt"], "chat": False,
             "stop": ["</code>", "# SOLUTION END"]} for r in rows]


def generation_settings(bench: dict) -> dict:
    keys = ("max_new_tokens", "temperature", "top_p", "n", "seed")
    return {k: bench[k] for k in keys if bench.get(k) is not None}


# ---------------------------------------------------------------- post-processing
def cut_at(text: str, stops) -> str:
    ends = [i for i in (text.find(s) for s in stops) if i >= 0]
    return text[:min(ends)] if ends else text


def fenced_code(reply: str) -> str:
    """The first fenced block of a chat reply (served models answer without the pre-filled prefix)."""
    if FENCE not in reply:
        return reply
    block = reply.split(FENCE, 2)[1]
    return block.split("\n", 1)[1] if "\n" in block else ""


def postprocess(bench: dict, task: dict, output: str) -> str:
    """The program to run for one output (before the tests are added)."""
    kind = kind_of(bench)
    if kind in ("humaneval", "mbpp"):
        if task.get("chat_reply"):
            code = fenced_code(output)
        else:
            code = task["code_prefix"] + output.split(FENCE)[0]
        if kind == "mbpp":
            code = sanitize(code, task["entry_point"], bench.get("sanitizer", "original-2023"))
        return code
    if kind == "multipl-e":
        return task["prompt"] + cut_at(output, task["stop"])
    return cut_at(output, task["stop"]).replace(FENCE, "").replace("END SOLUTION", "")
