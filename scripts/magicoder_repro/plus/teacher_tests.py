"""Teacher-written tests for the execution filter: one request per parsed record of a checked language.

The record's problem and solution go to the teacher that wrote them, with the tests template
(`curation.execution_filter.tests_prompt_template`), which asks for a short test program in the
record's language. How that program will meet the solution (appended to it, or running it as a
script) is the language's `harness` in execution_filter.py, so the prompt says what the filter does.
Requests go through generate.py: the same backends (openai, replay), response cache, retries, ledger.
"""
from magicoder_repro.plus.execution_filter import LANGUAGES
from magicoder_repro.data.generate import Job, command_line
from magicoder_repro.data.requests import chat_request, render_prompt, request_key
from magicoder_repro.core.errors import one_line_errors


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


@one_line_errors()
def main(argv=None):
    command_line(argv, __doc__.splitlines()[0], "--records", "parsed OSS-Instruct records of one language", plan)


if __name__ == "__main__":
    main()
