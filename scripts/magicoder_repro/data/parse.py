"""Split each teacher answer into a problem and a solution, by the original's rules exactly.

The first line containing `[problem description]` and the first line containing `[solution]`
(case-insensitive) mark the parts: the problem is the text strictly between them, the solution all
text after the `[solution]` line, both stripped. An answer is dropped if it did not stop on its own
(`finish_reason != "stop"`), a marker is missing, the markers are out of order (or on one line), or a
part is empty. Dropped answers are counted per reason, so a change of teacher or template shows up.
"""
import argparse
from collections import Counter

from magicoder_repro.core.jsonl import iter_jsonl, write_json, write_jsonl
from magicoder_repro.core.errors import one_line_errors

PROBLEM_MARKER = "[problem description]"
SOLUTION_MARKER = "[solution]"


def split_answer(text: str) -> tuple[str, str] | str:
    """(problem, solution), or the reason the answer is dropped."""
    lines = text.splitlines(keepends=True)
    lowered = [line.lower() for line in lines]
    problem_at = next((i for i, line in enumerate(lowered) if PROBLEM_MARKER in line), None)
    solution_at = next((i for i, line in enumerate(lowered) if SOLUTION_MARKER in line), None)
    if problem_at is None:
        return "no_problem_marker"
    if solution_at is None:
        return "no_solution_marker"
    if problem_at >= solution_at:
        return "markers_out_of_order"
    problem = "".join(lines[problem_at + 1 : solution_at]).strip()
    solution = "".join(lines[solution_at + 1 :]).strip()
    if not problem:
        return "empty_problem"
    if not solution:
        return "empty_solution"
    return problem, solution


def parse_row(row: dict) -> dict | str:
    """The OSS-Instruct record for one generate output row, or why there is none."""
    if "skipped" in row:
        return f"skipped_{row['skipped']}"
    choice = row["response"]["choices"][0]
    if choice.get("finish_reason") != "stop":
        return f"finish_reason_{choice.get('finish_reason')}"
    parts = split_answer((choice.get("message") or {}).get("content") or "")
    if isinstance(parts, str):
        return parts
    problem, solution = parts
    return {
        "lang": row["lang"], "raw_index": row["raw_index"], "index": row["index"], "seed": row["seed"],
        "openai_fingerprint": row["response"].get("system_fingerprint"), "problem": problem, "solution": solution,
    }


def parse(responses_path, records_path, stats_path) -> dict:
    records, dropped = [], Counter()
    for row in iter_jsonl(responses_path):
        result = parse_row(row)
        if isinstance(result, str):
            dropped[result] += 1
        else:
            records.append(result)
    stats = {"responses": len(records) + sum(dropped.values()), "kept": len(records), "dropped": dict(sorted(dropped.items()))}
    write_jsonl(records_path, records)
    write_json(stats_path, stats)
    return stats


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--responses", required=True)
    p.add_argument("--records", required=True)
    p.add_argument("--stats", required=True)
    args = p.parse_args(argv)
    stats = parse(args.responses, args.records, args.stats)
    print(f"kept {stats['kept']} of {stats['responses']}; dropped {stats['dropped']}")


if __name__ == "__main__":
    main()
