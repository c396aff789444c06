# Seeds: one snippet of min_lines..max_lines consecutive lines per source document, shuffled and
# windowed as in the original. A local source (file or directory) is an input, so editing it reruns
# the rule; params carry the shared draw settings plus this language's source only.
import re
from pathlib import Path

from magicoder_repro.core.sources import local_inputs


rule seeds:
    input:
        lambda wildcards: local_inputs(config["seeds"]["sources"][wildcards.lang]["dataset"]),
        hub=lambda wildcards: staged_dataset(config["seeds"]["sources"][wildcards.lang]),
    output:
        f"{RESULTS}/seeds/{{lang}}.jsonl",
    params:
        settings=lambda wildcards: as_json(
            {k: v for k, v in config["seeds"].items() if k != "sources"}
            | {"source": config["seeds"]["sources"][wildcards.lang]}
        ),
        image=image_param("data"),
    log:
        f"{RESULTS}/logs/seeds/{{lang}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/seeds/{{lang}}.tsv"
    container:
        container_image("seeds", "data")
    resources:
        **docker_shell("seeds", "data"),
    wildcard_constraints:
        lang="|".join(map(re.escape, config["seeds"]["sources"])),
    shell:
        "python -m magicoder_repro.data.seeds --lang {wildcards.lang:q} --settings {params.settings:q} "
        "--output {output:q} 2> {log:q}"
