"""Instruction/response records, the one format both training stages read.

Stage one (OSS-Instruct): instruction = `sft.oss_instruction` with `{problem}` replaced by the problem,
response = the solution (Magicoder's preprocess_data.py). The placeholder is replaced rather than
`str.format`-ed, because problems are full of code braces. Stage two (Evol-Instruct): the record's
instruction and response as they are. Provenance fields (`lang`, `index`) ride along.
"""
import argparse

from magicoder_repro.core.jsonl import iter_jsonl, write_jsonl
from magicoder_repro.core.errors import one_line_errors


def oss_instruction(template: str, problem: str) -> str:
    if "{problem}" not in template:
        raise ValueError(f"sft.oss_instruction must contain {{problem}}: {template!r}")
    return template.replace("{problem}", problem)


def stage1(records, template: str):
    for r in records:
        yield {"instruction": oss_instruction(template, r["problem"]), "response": r["solution"], "lang": r.get("lang"), "index": r.get("index")}


def stage2(records):
    for r in records:
        yield {"instruction": r["instruction"], "response": r["response"], "index": r.get("index")}


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", choices=["1", "2"], required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--oss-instruction", help="stage 1: the instruction template with {problem}")
    a = p.parse_args(argv)
    records = iter_jsonl(a.input)
    if a.stage == "1":
        if a.oss_instruction is None:
            p.error("--oss-instruction is required for stage 1")
        n = write_jsonl(a.output, stage1(records, a.oss_instruction))
    else:
        n = write_jsonl(a.output, stage2(records))
    print(f"stage {a.stage}: wrote {n} records to {a.output}")


if __name__ == "__main__":
    main()
