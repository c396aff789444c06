"""Seeds: the original's draw (chunked re-seeding, shuffle, window), provenance, sources, and errors."""
import json
import os
import random
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, run_snakemake
from magicoder_repro.core.jsonl import CorruptRecord, read_jsonl
from magicoder_repro.data.seeds import SeedError, make_seeds

DOCS = [
    "import os\nprint(os.getcwd())\n",
    "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\n",
    "",  # an empty document: no lines to draw from
    "one line, no newline",
    "x\r\ny\rz\n\nw\n",  # Windows and old-Mac line ends: splitlines splits on both
    "\n".join(f"line {i}" for i in range(40)) + "\n",
    "def f():\n    return 1\n",
]


def settings(path, count, **overrides):
    base = {"seed": 976, "chunk_size": 3, "min_lines": 1, "max_lines": 5, "start_index": 0,
            "content_field": "content", "source": {"dataset": str(path), "count": count}}
    return {**base, **overrides}


def write_corpus(path, docs=DOCS):
    path.write_text("".join(json.dumps({"id": f"doc-{i}", "content": d}) + "\n" for i, d in enumerate(docs)))
    return path


def original_formula(docs, seed, chunk_size, min_lines, max_lines, start, count):
    """The published algorithm written out directly: Python's RNG re-seeded with seed + chunk start,
    a uniform start line and length per document, then numpy's permutation (what Dataset.shuffle uses)."""
    drawn = []
    for chunk_start in range(0, len(docs), chunk_size):
        rng = random.Random(seed + chunk_start)
        for doc in docs[chunk_start : chunk_start + chunk_size]:
            lines = doc.splitlines(keepends=True)
            if not lines:
                drawn.append("")
                continue
            first = rng.choice(range(len(lines)))
            drawn.append("".join(lines[first : first + rng.randint(min_lines, max_lines)]))
    order = np.random.default_rng(seed).permutation(len(docs))
    return [(int(i), drawn[i]) for i in order[start : start + count]]


@pytest.mark.parametrize("chunk_size,start,count", [(3, 0, 7), (2, 2, 4), (1000, 1, 5)])
def test_seeds_match_the_original_formula(tmp_path, chunk_size, start, count):
    corpus = write_corpus(tmp_path / "c.jsonl")
    seeds = make_seeds("python", settings(corpus, count, chunk_size=chunk_size, start_index=start))
    expected = original_formula(DOCS, 976, chunk_size, 1, 5, start, count)
    assert [(s["raw_index"], s["seed"]) for s in seeds] == expected
    assert [s["index"] for s in seeds] == list(range(start, start + count))


def test_seeds_are_deterministic_bounded_and_traceable(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl")
    first = make_seeds("python", settings(corpus, len(DOCS)))
    assert first == make_seeds("python", settings(corpus, len(DOCS)))
    assert sorted(s["raw_index"] for s in first) == list(range(len(DOCS)))
    for s in first:
        doc = DOCS[s["raw_index"]]
        lines = doc.splitlines(keepends=True)
        assert s["doc_id"] == f"doc-{s['raw_index']}" and s["source"] == str(corpus) and s["lang"] == "python"
        assert "".join(lines[s["start_line"] : s["end_line"]]) == s["seed"]
        n = s["end_line"] - s["start_line"]
        if lines:
            assert 1 <= n <= 5 and s["seed"]
            # shorter than drawn only where the document ends
            assert s["end_line"] <= len(lines)
        else:
            assert n == 0 and s["seed"] == ""


def test_window_is_a_slice_of_the_full_shuffle(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl")
    full = make_seeds("python", settings(corpus, len(DOCS)))
    window = make_seeds("python", settings(corpus, 3, start_index=2))
    assert window == full[2:5]


def test_directory_and_parquet_sources(tmp_path):
    tree = tmp_path / "repo"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "b.py").write_text(DOCS[1])
    (tree / "a.py").write_text(DOCS[0])
    (tree / "z.sh").write_text(DOCS[5])
    (tree / ".git").mkdir()
    (tree / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # hidden: not a document
    seeds = make_seeds("python", settings(tree, 3))
    by_id = {"a.py": DOCS[0], "pkg/b.py": DOCS[1], "z.sh": DOCS[5]}
    assert sorted(s["doc_id"] for s in seeds) == sorted(by_id)
    for s in seeds:
        assert s["seed"] in by_id[s["doc_id"]]
    # files are documents in relative-path order, so the same texts as JSONL give the same seeds
    as_jsonl = write_corpus(tmp_path / "same.jsonl", [DOCS[0], DOCS[1], DOCS[5]])
    assert [s["seed"] for s in seeds] == [s["seed"] for s in make_seeds("python", settings(as_jsonl, 3))]

    table = pa.table({"id": [f"doc-{i}" for i in range(len(DOCS))], "content": DOCS, "max_stars_count": list(range(len(DOCS)))})
    pq.write_table(table, tmp_path / "c.parquet")
    from_parquet = make_seeds("python", settings(tmp_path / "c.parquet", len(DOCS)))
    from_jsonl = make_seeds("python", settings(write_corpus(tmp_path / "c.jsonl"), len(DOCS)))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "source"} for r in rows]
    assert strip(from_parquet) == strip(from_jsonl)


def test_split_slice_limits_the_documents_considered(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl")
    s = settings(corpus, 4)
    s["source"]["split"] = "train[:4]"
    seeds = make_seeds("python", s)
    assert sorted(x["raw_index"] for x in seeds) == [0, 1, 2, 3]
    s["source"]["count"] = 5
    with pytest.raises(SeedError, match="only 4 documents"):
        make_seeds("python", s)


def test_bad_inputs_give_clear_errors(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl")
    with pytest.raises(SeedError, match=r"rust: asked for seeds \[0, 8\) but .* has only 7 documents"):
        make_seeds("rust", settings(corpus, 8))
    with pytest.raises(SeedError, match="no such file"):
        make_seeds("rust", settings(tmp_path / "missing.jsonl", 1))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"content": "a\\n"}\n{"content": "b\\n"\n')
    with pytest.raises(CorruptRecord, match=r"bad.jsonl:2"):
        make_seeds("rust", settings(bad, 1))
    wrong_field = tmp_path / "wrong.jsonl"
    wrong_field.write_text('{"text": "a\\n"}\n')
    with pytest.raises(SeedError, match="record 0 has no text field 'content'"):
        make_seeds("rust", settings(wrong_field, 1))


def test_rule_writes_seeds_and_log(workdir):
    run_snakemake(workdir, "--workflow-profile", "none", "results/seeds/rust.jsonl")
    written = read_jsonl(workdir / "results/seeds/rust.jsonl")
    assert len(written) == 6 and {s["lang"] for s in written} == {"rust"}
    assert "wrote 6 seeds" in (workdir / "results/logs/seeds/rust.log").read_text()
    # a changed setting reaches the rule through params, so the rule reruns with it
    (workdir / "short.yaml").write_text("seeds: {max_lines: 2}\n")
    run_snakemake(workdir, "--workflow-profile", "none", "results/seeds/rust.jsonl", "--configfile", "short.yaml")
    shorter = read_jsonl(workdir / "results/seeds/rust.jsonl")
    assert all(1 <= s["end_line"] - s["start_line"] <= 2 for s in shorter)
    assert [s["raw_index"] for s in shorter] == [s["raw_index"] for s in written]  # same shuffle


@pytest.mark.parametrize("streaming", [False, True])
def test_unreachable_hub_dataset_is_a_clear_error(tmp_path, streaming):
    """The presets' path (a gated Hub dataset) without access: the run stops and says what to do."""
    source = {"dataset": "bigcode/starcoderdata", "data_dir": "python", "split": "train[:150000]",
              "streaming": streaming, "count": 5}
    cmd = [sys.executable, "-m", "magicoder_repro.data.seeds", "--lang", "python", "--output", str(tmp_path / "s.jsonl"),
           "--settings", json.dumps({**settings("", 5), "source": source})]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(REPO / "scripts")}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and not (tmp_path / "s.jsonl").exists()
    assert "python: could not load 'bigcode/starcoderdata' (data_dir='python'" in proc.stderr
    assert "huggingface-cli login" in proc.stderr
