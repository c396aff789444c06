"""Teacher-written tests for the execution filter: one request per parsed record of a checked language.

The record's problem and solution go to the teacher that wrote them, with the tests template
(`curation.execution_filter.tests_prompt_template`), which asks for a short test program in the
record's language. How that program will meet the solution (appended to it, or running it as a
script) is the language's `harness` in execution_filter.py, so the prompt says what the filter does.
Requests go through generate.py: the same backends (openai, replay), response cache, retries, ledger.
"""
import argparse
import logging
import sys

from .execution_filter import LANGUAGES
from .generate import (GenerationError, Job, add_teacher_arguments, answer, require_tiktoken,
                       teacher_from_arguments, write_answers)
from .jsonl import read_jsonl
from .requests import chat_request, load_template, render_prompt, request_key

log = logging.getLogger("magicoder_repro.teacher_tests")


def request_for_tests(record: dict, teacher: dict, template: str) -> dict | None:
    """The request for the record's tests (the seed index picks the sampling seed, as in generation)."""
    spec = LANGUAGES[record["lang"]]
    prompt = render_prompt(template, lang=spec.name, problem=record["problem"], solution=record["solution"],
                           harness=spec.harness)
    return chat_request(prompt, record["index"], teacher)


def plan(records: list[dict], teacher: dict, template: str) -> list[Job]:
    jobs = []
    for record in sorted(records, key=lambda r: r["index"]):
        request = request_for_tests(record, teacher, template)
        jobs.append(Job(record, request, request_key(request) if request else None))
    return jobs


def teacher_tests(records_path, teacher: dict, template_path, cache_dir, responses_path, ledger_path, runtime: dict) -> None:
    if teacher.get("token_counter") == "tiktoken":
        require_tiktoken()
    jobs = plan(read_jsonl(records_path), teacher, load_template(template_path))
    answers, sent, stats = answer(jobs, teacher, cache_dir, runtime)
    write_answers(jobs, answers, sent, stats, teacher, responses_path, ledger_path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", required=True, help="parsed OSS-Instruct records of one language")
    add_teacher_arguments(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        teacher, runtime = teacher_from_arguments(args)
        teacher_tests(args.records, teacher, args.template, args.cache, args.responses, args.ledger, runtime)
    except GenerationError as e:
        log.error("%s", e)
        sys.exit(1)


if __name__ == "__main__":
    main()
