"""The Evol-Instruct set for stage two: loaded from the Hub or a local file, fields renamed, optionally decontaminated.

Magicoder trained stage two on `ise-uiuc/Magicoder-Evol-Instruct-110K` (fields `instruction`,
`response`), which is `theblackcat102/evol-codealpaca-v1` (`instruction`, `output`) after the same
substring decontamination as OSS-Instruct. Config names the source and its two fields; with
`decontaminate: true` the raw set is cleaned here with `curation.decontamination`.
"""
import argparse
import json
import sys

from magicoder_repro.data.benchmark_strings import load_benchmark_strings, load_table
from magicoder_repro.data.decontaminate import decontaminate, summarise
from magicoder_repro.core.jsonl import write_json, write_jsonl
from magicoder_repro.core.errors import one_line_errors

COLUMNS = ["instruction", "response"]


def to_records(rows: list[dict], instruction_field: str, response_field: str, source: str) -> list[dict]:
    """`instruction`/`response` records with their row index; a missing or non-text field is an error."""
    records = []
    for i, row in enumerate(rows):
        for name, key in (("instruction_field", instruction_field), ("response_field", response_field)):
            if not isinstance(row.get(key), str):
                got = "missing" if key not in row else type(row[key]).__name__
                raise ValueError(f"{source} row {i}: evol.{name} {key!r} is {got} (row fields: {sorted(row)})")
        records.append({"instruction": row[instruction_field], "response": row[response_field], "index": i})
    return records


def build(evol: dict, decontamination: dict | None) -> tuple[list[dict], list[dict], dict]:
    rows = load_table(evol, "evol")
    records = to_records(rows, evol.get("instruction_field", "instruction"), evol.get("response_field", "response"), evol["dataset"])
    if not evol.get("decontaminate"):
        return records, [], {"method": None, "note": "evol.decontaminate is false", "kept": len(records), "removed": 0}
    strings, skipped = load_benchmark_strings(decontamination.get("benchmarks", {}), decontamination.get("skip", []))
    kept, removed, match = decontaminate(
        records, COLUMNS, strings, decontamination["method"], decontamination.get("ngram_size", 10)
    )
    return kept, removed, summarise(decontamination, strings, skipped, kept, removed, match)


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--evol", required=True, help="the evol config section as JSON")
    p.add_argument("--decontamination", required=True, help="curation.decontamination as JSON")
    p.add_argument("--output", required=True)
    p.add_argument("--removed", required=True)
    p.add_argument("--summary", required=True)
    a = p.parse_args(argv)
    kept, removed, summary = build(json.loads(a.evol), json.loads(a.decontamination))
    write_jsonl(a.output, kept)
    write_jsonl(a.removed, removed)
    write_json(a.summary, summary)
    print(json.dumps(summary, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
