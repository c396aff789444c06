"""Exact dedup after the seeded shuffle, as the original clean_data.py."""
import random

import pytest

from magicoder_repro.data.clean import clean, dedup, main
from magicoder_repro.core.jsonl import CorruptRecord, read_jsonl, write_jsonl


def rec(i, seed, problem, solution, lang="python"):
    return {"lang": lang, "raw_index": i, "index": i, "seed": seed, "problem": problem, "solution": solution, "openai_fingerprint": None}


def test_dedup_is_per_field_and_whitespace_insensitive():
    records = [
        rec(0, "x = 1\n", "Add two numbers.", "def add(a, b):\n    return a + b"),
        rec(1, "x  =  1", "Another problem.", "def other(): pass"),             # same seed, other spacing
        rec(2, "y = 2", "Add two\tnumbers.\n", "def add2(a, b): return a + b"),   # same problem, other spacing
        rec(3, "z = 3", "Third problem.", "def add(a,b):\n\treturn a+b"),         # same solution without spaces
        rec(4, "w = 4", "Fourth problem.", "def four(): return 4"),
        rec(5, "v = 5", "Add two numbers!", "def add5(a, b): return a + b"),      # punctuation differs: kept
        rec(6, "x = 1", "Add two numbers.", "def add(a, b): return a + b"),       # all three repeat: counted once
    ]
    kept, dropped = dedup(records)
    assert [r["index"] for r in kept] == [0, 4, 5]
    assert dropped == {"duplicate seed": 2, "duplicate problem": 1, "duplicate solution": 1}


def test_a_dropped_record_does_not_block_later_records():
    # Record 1 repeats record 0's seed; its new problem must not be "seen" (the original adds keys only when keeping).
    records = [rec(0, "s", "p0", "a0"), rec(1, "s", "p1", "a1"), rec(2, "s2", "p1", "a2")]
    assert [r["index"] for r in dedup(records)[0]] == [0, 2]


def test_clean_concatenates_in_order_then_shuffles_like_the_original(tmp_path):
    langs = ["python", "rust", "shell"]
    files = []
    for k, lang in enumerate(langs):
        path = tmp_path / f"{lang}.records.jsonl"
        write_jsonl(path, [rec(i, f"seed {lang} {i}", f"problem {lang} {i}", f"solution {lang} {i}", lang) for i in range(7 + k)])
        files.append(path)
    expected = [r for f in files for r in read_jsonl(f)]
    random.seed(666)  # the original: random.seed(args.seed); random.shuffle(raw_data)
    random.shuffle(expected)
    kept, stats = clean(files, 666)
    assert kept == expected
    assert kept != clean(files, 667)[0] and sorted(map(str, kept)) == sorted(map(str, clean(files, 667)[0]))
    assert stats["input"] == stats["kept"] == 24 and stats["kept_per_lang"] == {"python": 7, "rust": 8, "shell": 9}


def test_which_duplicate_survives_depends_on_the_shuffle(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [rec(i, f"seed {i}", "same problem", f"solution {i}") for i in range(20)])
    survivors = {clean([tmp_path / "a.jsonl"], s)[0][0]["index"] for s in range(10)}
    assert len(survivors) > 1
    shuffled = read_jsonl(tmp_path / "a.jsonl")
    random.Random(666).shuffle(shuffled)
    kept, stats = clean([tmp_path / "a.jsonl"], 666)
    assert kept == shuffled[:1] and stats["dropped"] == {"duplicate problem": 19}


def test_main_writes_records_and_stats(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [rec(0, "a", "b", "c"), rec(1, "a ", "d", "e")])
    main(["--inputs", str(tmp_path / "a.jsonl"), "--shuffle-seed", "666", "--output", str(tmp_path / "o.jsonl"), "--stats", str(tmp_path / "s.json")])
    assert len(read_jsonl(tmp_path / "o.jsonl")) == 1
    assert (tmp_path / "s.json").read_text().count('"duplicate seed": 1') == 1


def test_bad_input_names_file_and_line(tmp_path):
    path = tmp_path / "rust.records.jsonl"
    path.write_text('{"seed": "a", "problem": "b", "solution": "c"}\n[1, 2]\n')
    with pytest.raises(CorruptRecord, match=rf"{path}:2: expected a JSON object"):
        clean([path], 666)
    path.write_text('{"seed": "a", "problem": "b"}\n')
    with pytest.raises(ValueError, match=rf"{path}: record 1 has no text field\(s\) \['solution'\]"):
        clean([path], 666)
