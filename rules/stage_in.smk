# Stage-in for compute nodes without internet (hub.stage_in): one local job per Hub repository the run
# reads (base model, evaluated models, a served teacher, the embedding model, seed, benchmark and
# Evol-Instruct data sets) downloads it on the submit host into hub.cache; every other job then runs
# offline against that cache and lists the repository's manifest among its inputs (staged_model,
# staged_dataset, the items and their names in common.smk). With hub.stage_in off (the default) this
# file adds nothing.
if STAGE_IN:
    # Every job of this run, here and on the cluster (the SLURM executor exports this environment),
    # reads the Hub only from the cache; the stage-in job alone goes online.
    os.environ.update(HF_HUB_CACHE=str(HUB_CACHE), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


localrules:
    stage_in,


rule stage_in:
    output:
        f"{HUB_CACHE}/staged/{{item}}.json",
    params:
        spec=lambda wildcards: as_json(STAGE_IN_ITEMS[wildcards.item]),
        # The Hub to fetch from: hub.endpoint (a mirror, or the tests' local stand-in), else huggingface.co.
        endpoint=f"HF_ENDPOINT={shlex.quote(HUB['endpoint'])} " if HUB.get("endpoint") else "",
    log:
        f"{RESULTS}/logs/stage_in/{{item}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/stage_in/{{item}}.tsv"
    container:
        container_image("stage_in", "data")
    wildcard_constraints:
        item="|".join(map(re.escape, STAGE_IN_ITEMS)) or "no-hub-repository",
    shell:
        "{params.endpoint}HF_HUB_OFFLINE=0 python -m magicoder_repro.core.hub --spec {params.spec:q} --manifest {output:q} > {log:q} 2>&1"
