"""Seeds: a random run of consecutive lines from each source document, the input of OSS-Instruct.

The original (ise-uiuc/magicoder, `generate_data.py`) draws the snippets inside a batched `datasets`
map, re-seeding Python's RNG with `seed + first index of the batch`, then shuffles the mapped set with
`Dataset.shuffle(seed=seed)` and keeps a window of it. We make the same `datasets` calls, so a corpus
yields the same seeds in the same order as the original did; each seed also records where it came from
(document id and line range), which the original did not keep.
"""
import argparse
import json
import logging
import random
import re
from pathlib import Path

from datasets import Dataset, IterableDataset, ReadInstruction, load_dataset

from magicoder_repro.core import hub
from magicoder_repro.core.jsonl import iter_jsonl, write_jsonl
from magicoder_repro.core.sources import is_local, local_files
from magicoder_repro.core.errors import PipelineError, one_line_errors

log = logging.getLogger("seeds")

SEED_COLUMNS = ["raw_index", "doc_id", "seed", "start_line", "end_line"]


class SeedError(PipelineError, ValueError):
    """A problem with the seeds' configuration or source data; the message says what to fix."""


def draw_seed(rng: random.Random, document: str, min_lines: int, max_lines: int) -> tuple[str, int, int]:
    """The original's draw: a uniform start line, then a uniform length; shorter at the end of the file."""
    lines = document.splitlines(keepends=True)
    if not lines:  # the original's random.choice raises here, before drawing anything
        return "", 0, 0
    start = rng.choice(range(len(lines)))
    end = min(start + rng.randint(min_lines, max_lines), len(lines))
    return "".join(lines[start:end]), start, end


def slice_rows(n_rows: int, split: str) -> range:
    """Rows that a split spec such as `train` or `train[:150000]` selects from a one-split local source."""
    try:
        (instruction,) = ReadInstruction.from_spec(split).to_absolute({"train": n_rows})
    except (ValueError, AssertionError) as e:
        raise SeedError(f"split {split!r}: a local source has one split, 'train' (optionally sliced): {e}") from None
    return range(instruction.from_, instruction.to)


def read_local(path: Path, content_field: str, split: str) -> Dataset:
    """A local JSONL file, Parquet file, or directory of source files as a Dataset (content, id)."""
    if not path.exists():
        raise SeedError(f"{path}: no such file or directory")
    if path.suffix == ".parquet":
        ds = load_dataset("parquet", data_files=str(path), split=split)
        if content_field not in ds.column_names:
            raise SeedError(f"{path}: no column {content_field!r} (columns: {ds.column_names})")
        return ds
    if path.is_dir():
        contents, ids = [], []
        for file in local_files(str(path)):
            try:
                contents.append(file.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                raise SeedError(f"{file}: not UTF-8 text; remove it from the seed directory") from None
            ids.append(file.relative_to(path).as_posix())
    else:
        contents, ids = [], []
        for n, record in enumerate(iter_jsonl(path)):
            if not isinstance(record.get(content_field), str):
                raise SeedError(f"{path}: record {n} has no text field {content_field!r}")
            contents.append(record[content_field])
            ids.append(record.get("id"))
    rows = slice_rows(len(contents), split)
    return Dataset.from_dict({content_field: contents[rows.start : rows.stop], "id": ids[rows.start : rows.stop]})


def read_hub(source: dict, split: str) -> Dataset | IterableDataset:
    """A Hub dataset, as the original loaded it; streaming reads only the documents it needs."""
    kwargs = dict(name=source.get("name"), data_dir=source.get("data_dir"))
    if not source.get("streaming"):
        return hub.load_dataset(source["dataset"], split=split, **kwargs)
    m = re.fullmatch(r"(\w+)(?:\[(\d*):(\d*)\])?", split)
    if not m:
        raise SeedError(f"split {split!r}: streaming supports only `name` or `name[start:stop]` with row numbers")
    ds = hub.load_dataset(source["dataset"], split=m[1], streaming=True, **kwargs)
    start = int(m[2] or 0)
    ds = ds.skip(start) if start else ds
    return ds.take(int(m[3]) - start) if m[3] else ds


def draw_all(documents, settings: dict):
    """Map every document to its seed exactly as the original's batched map did (one RNG per chunk)."""
    field, lo, hi = settings.get("content_field", "content"), settings.get("min_lines", 1), settings["max_lines"]

    def draw_chunk(batch: dict, indices: list[int]) -> dict:
        rng = random.Random(settings["seed"] + indices[0])
        drawn = []
        for raw_index, text in zip(indices, batch[field]):
            if not isinstance(text, str):
                raise SeedError(f"document {raw_index} has no text in {field!r}")
            drawn.append(draw_seed(rng, text, lo, hi))
        ids = batch.get("id") or [None] * len(indices)
        return {
            "raw_index": indices,
            "doc_id": [None if i is None else str(i) for i in ids],
            "seed": [d[0] for d in drawn],
            "start_line": [d[1] for d in drawn],
            "end_line": [d[2] for d in drawn],
        }

    columns = documents.column_names
    if columns is None:  # a stream with unknown features: drop the document columns after the map
        mapped = documents.map(draw_chunk, batched=True, batch_size=settings["chunk_size"], with_indices=True)
        return Dataset.from_list([{k: row[k] for k in SEED_COLUMNS} for row in mapped])
    mapped = documents.map(
        draw_chunk, batched=True, batch_size=settings["chunk_size"], with_indices=True, remove_columns=columns
    )
    return mapped if isinstance(mapped, Dataset) else Dataset.from_list(list(mapped))


def make_seeds(lang: str, settings: dict) -> list[dict]:
    """The seed records of one language: drawn, shuffled with the seed, and windowed."""
    source = settings["source"]
    split = source.get("split", "train")
    if is_local(source["dataset"]):
        documents = read_local(Path(source["dataset"]), settings.get("content_field", "content"), split)
    else:
        try:
            documents = read_hub(source, split)
        except Exception as e:  # offline, gated, unknown id or data_dir: all mean "fix the source or access"
            raise SeedError(
                f"{lang}: could not load {source['dataset']!r} (data_dir={source.get('data_dir')!r}, split={split!r}) "
                f"from the Hugging Face Hub: {type(e).__name__}: {e}. starcoderdata and the-stack are gated: accept "
                "their terms on the Hub and run `huggingface-cli login`, or point seeds.sources.<lang>.dataset at a local copy."
            ) from e
    drawn = draw_all(documents, settings)
    start, count = settings["start_index"], source["count"]
    log.info("%s: %d documents from %s", lang, len(drawn), source["dataset"])
    if start + count > len(drawn):
        raise SeedError(
            f"{lang}: asked for seeds [{start}, {start + count}) but {source['dataset']} has only "
            f"{len(drawn)} documents; lower seeds.sources.{lang}.count or seeds.start_index"
        )
    window = drawn.shuffle(seed=settings["seed"]).select(range(start, start + count))
    return [
        {"lang": lang, "index": start + i, "source": source["dataset"], **{k: row[k] for k in SEED_COLUMNS}}
        for i, row in enumerate(window)
    ]


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lang", required=True)
    p.add_argument("--settings", required=True, help="JSON: seeds settings plus this language's `source`")
    p.add_argument("--output", required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    seeds = make_seeds(args.lang, json.loads(args.settings))
    write_jsonl(args.output, seeds)
    lengths = [s["end_line"] - s["start_line"] for s in seeds]
    log.info(
        "%s: wrote %d seeds to %s (lines per seed: min %d, mean %.1f, max %d; %d empty)",
        args.lang, len(seeds), args.output, min(lengths, default=0),
        sum(lengths) / max(len(lengths), 1), max(lengths, default=0), lengths.count(0),
    )


if __name__ == "__main__":
    main()
