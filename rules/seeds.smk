# Seeds: one snippet of 1..max_lines consecutive lines per source document, shuffled and windowed
# as in the original. A local source (file or directory) is an input, so editing it reruns the rule.
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from magicoder_repro.sources import is_local, local_files


def seed_settings(lang):
    """Everything that decides one language's seeds: the shared draw settings and its source."""
    shared = {k: v for k, v in config["seeds"].items() if k != "sources"}
    shared.setdefault("content_field", "content")
    return {**shared, "source": config["seeds"]["sources"][lang]}


def seed_source_files(wildcards):
    """The local files a language's seeds are read from (none for a Hub dataset)."""
    dataset = config["seeds"]["sources"][wildcards.lang]["dataset"]
    return [str(p) for p in local_files(dataset)] if is_local(dataset) else []


rule seeds:
    input:
        seed_source_files,
    output:
        f"{RESULTS}/seeds/{{lang}}.jsonl",
    params:
        settings=lambda wildcards: as_json(seed_settings(wildcards.lang)),
    log:
        f"{RESULTS}/logs/seeds/{{lang}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/seeds/{{lang}}.tsv"
    wildcard_constraints:
        lang="|".join(map(re.escape, config["seeds"]["sources"])),
    shell:
        "python -m magicoder_repro.seeds --lang {wildcards.lang:q} --settings {params.settings:q} "
        "--output {output:q} 2> {log:q}"
