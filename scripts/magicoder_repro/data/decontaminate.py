"""Remove records that contain benchmark text (StarCoder's decontamination, as Magicoder ran it).

`substring` (the original): a record's columns are lowercased and joined with a blank line; the record
is dropped if any lowercased benchmark string occurs in that text. The original loops over every
string for every record; one Aho-Corasick automaton over all strings (`ahocorasick-rs`, a DFA)
finds the same matches in a single pass over the text. Removed records name the first matching string in the original's loop order
(benchmarks in config order, strings in load order), so even the reported match agrees with the loop.

`ngram`: a record is dropped if it shares any word n-gram with a benchmark string. It also catches
text that differs from the benchmark in case, spacing or punctuation, which substrings miss.
"""
import argparse
import json
import re
import sys

import ahocorasick_rs

from magicoder_repro.data.benchmark_strings import load_benchmark_strings
from magicoder_repro.core.jsonl import add_filter_arguments, iter_jsonl, write_filter_outputs
from magicoder_repro.core.errors import one_line_errors

WORD = re.compile(r"\w+")


def record_text(record: dict, columns: list[str]) -> str:
    return "\n\n".join(record[c].lower() for c in columns)


def naive_match(text: str, strings: dict[str, list[str]]):
    """The original loop: the first (benchmark, string) whose lowercase occurs in `text`, or None."""
    for benchmark, substrings in strings.items():
        for substring in substrings:
            if substring.lower() in text:
                return benchmark, substring
    return None


class SubstringMatcher:
    """All benchmark strings in one Aho-Corasick automaton; a hit reports the string the naive loop finds first.

    Matching runs on UTF-8 bytes: UTF-8 is self-synchronising, so a byte-level substring of an encoded
    text is exactly a character-level substring. A DFA scans several times faster than an NFA but its
    size grows with the total length of the strings, so long string sets (APPS questions) use an NFA.
    """

    DFA_MAX_BYTES = 2_000_000

    def __init__(self, strings: dict[str, list[str]]):
        owner: dict[bytes, tuple] = {}
        rank = 0
        for benchmark, substrings in strings.items():
            for substring in substrings:
                # A repeated string keeps its first (lowest) rank, as the loop would report it.
                owner.setdefault(encode(substring.lower()), (rank, benchmark, substring))
                rank += 1
        self.owners = list(owner.values())
        self.automaton = None
        if owner:
            small = sum(map(len, owner)) <= self.DFA_MAX_BYTES
            implementation = ahocorasick_rs.Implementation.DFA if small else ahocorasick_rs.Implementation.ContiguousNFA
            self.automaton = ahocorasick_rs.BytesAhoCorasick(
                list(owner), matchkind=ahocorasick_rs.MatchKind.Standard, implementation=implementation
            )

    def __call__(self, text: str):
        if self.automaton is None:
            return None
        hits = self.automaton.find_matches_as_indexes(encode(text), overlapping=True)
        if not hits:
            return None
        # Patterns are numbered in rank order, so the lowest pattern number is the loop's first match.
        return self.owners[min(pattern for pattern, _, _ in hits)][1:]


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # JSON may carry lone surrogates; keep them matchable


def word_ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    words = WORD.findall(text.lower())
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


class NgramMatcher:
    """Word n-gram overlap; benchmark strings shorter than n words cannot match and are counted as such."""

    def __init__(self, strings: dict[str, list[str]], n: int):
        self.n = n
        self.owner: dict[tuple, tuple] = {}
        self.too_short = {b: 0 for b in strings}
        for benchmark, substrings in strings.items():
            for substring in substrings:
                grams = word_ngrams(substring, n)
                self.too_short[benchmark] += not grams
                for gram in grams:
                    self.owner.setdefault(gram, (benchmark, substring))

    def __call__(self, text: str):
        for gram in word_ngrams(text, self.n):
            if gram in self.owner:
                return self.owner[gram]
        return None


def make_matcher(strings: dict[str, list[str]], method: str, ngram_size: int = 10):
    if method == "substring":
        return SubstringMatcher(strings)
    if method == "ngram":
        return NgramMatcher(strings, ngram_size)
    raise ValueError(f"unknown decontamination method {method!r} (substring or ngram)")


def decontaminate(records, columns: list[str], strings: dict[str, list[str]], method="substring", ngram_size=10):
    """Split records into kept and removed; removed ones carry `benchmark` and `matched`."""
    match = make_matcher(strings, method, ngram_size)
    kept, removed = [], []
    for record in records:
        hit = match(record_text(record, columns))
        if hit is None:
            kept.append(record)
        else:
            removed.append({**record, "benchmark": hit[0], "matched": hit[1]})
    return kept, removed, match


def summarise(settings, strings, skipped, kept, removed, match) -> dict:
    """Counts only (no timings), so equal inputs give a byte-identical summary; time is in the rule's benchmark file."""
    per_benchmark = {
        name: {"strings": len(s), "removed": sum(r["benchmark"] == name for r in removed)} for name, s in strings.items()
    }
    if isinstance(match, NgramMatcher):
        for name, n in match.too_short.items():
            per_benchmark[name]["strings_shorter_than_ngram"] = n
    return {
        "method": settings["method"],
        **({"ngram_size": settings["ngram_size"]} if settings["method"] == "ngram" else {}),
        "benchmarks": per_benchmark,
        "skipped": skipped,
        "kept": len(kept),
        "removed": len(removed),
    }


def run(input_path, columns, settings, kept_path, removed_path, summary_path) -> dict:
    """Decontaminate one JSONL file with the `curation.decontamination` settings; write all three outputs."""
    strings, skipped = load_benchmark_strings(settings.get("benchmarks", {}), settings.get("skip", []))
    records = list(iter_jsonl(input_path))
    for i, record in enumerate(records):
        missing = [c for c in columns if not isinstance(record.get(c), str)]
        if missing:
            raise ValueError(f"{input_path}: record {i + 1} has no text field(s) {missing}")
    kept, removed, match = decontaminate(records, columns, strings, settings["method"], settings.get("ngram_size", 10))
    summary = summarise(settings, strings, skipped, kept, removed, match)
    write_filter_outputs(kept_path, kept, removed_path, removed, summary_path, summary)
    return summary


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--columns", nargs="+", required=True, help="text fields searched, joined by a blank line")
    p.add_argument("--settings", required=True, help="curation.decontamination as JSON")
    add_filter_arguments(p)
    a = p.parse_args(argv)
    summary = run(a.input, a.columns, json.loads(a.settings), a.kept, a.removed, a.summary)
    print(json.dumps(summary, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
