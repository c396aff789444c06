# Stage-in for compute nodes without internet (hub.stage_in): one local job per Hub repository the run
# reads (base model, evaluated models, a served teacher, the embedding model, seed, benchmark and
# Evol-Instruct data sets) downloads it on the submit host into hub.cache; every other job then runs
# offline against that cache and lists the repository's manifest among its inputs (staged_model,
# staged_dataset). With hub.stage_in off (the default) this file adds nothing.
import re
import sys

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from magicoder_repro.sources import is_local

HUB = config.get("hub", {})
STAGE_IN = HUB.get("stage_in", False)
HUB_CACHE = Path(HUB.get("cache", f"{CACHE}/hub")).absolute()
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def hub_item(kind, ref, data_dir=None, revision=None):
    """The stage-in item for a config value naming a Hub repository (an `org/name` that is no local
    path), as (manifest name, spec); None for anything else."""
    if not STAGE_IN or not isinstance(ref, str) or not HUB_ID.fullmatch(ref) or is_local(ref):
        return None
    name = "/".join([f"{kind}s", ref, *([data_dir.strip("/")] if data_dir else []), revision or "main"])
    return name, {"kind": kind, "repo": ref, "data_dir": data_dir, "revision": revision}


def staged(item):
    return [f"{HUB_CACHE}/staged/{item[0]}.json"] if item else []


def staged_model(ref):
    """The stage-in manifest of a model named by a Hub id, as an input ([] otherwise)."""
    return staged(hub_item("model", ref))


def staged_dataset(spec):
    """The stage-in manifest of a data set spec (`dataset`, optional `data_dir`, `revision`) on the Hub."""
    spec = spec or {}
    return staged(hub_item("dataset", spec.get("dataset"), spec.get("data_dir"), spec.get("revision")))


def staged_benchmarks(decontamination):
    """Manifests of the decontamination benchmarks that are searched and on the Hub."""
    settings = decontamination or {}
    return [f for name, spec in settings.get("benchmarks", {}).items() if name not in settings.get("skip", [])
            for f in staged_dataset(spec)]


def stage_in_items():
    """Every Hub repository this config reads, by manifest name."""
    evaluation = config.get("evaluation", {})
    models = [config["train"]["base_model"], (config["teacher"].get("serve") or {}).get("model")]
    models += [eval_model(m).get("path") for m in evaluation.get("models", {}) if eval_model(m).get("backend") != "openai"]
    if plus_enabled("semantic_decontamination"):
        models.append(config["curation"]["semantic_decontamination"]["model"])
    datasets = [*config["seeds"]["sources"].values(), config["evol"], *evaluation.get("benchmarks", {}).values()]
    decontamination = config["curation"]["decontamination"]
    datasets += [spec for name, spec in decontamination.get("benchmarks", {}).items() if name not in decontamination.get("skip", [])]
    items = [hub_item("model", m) for m in models]
    items += [hub_item("dataset", d.get("dataset"), d.get("data_dir"), d.get("revision")) for d in datasets]
    return dict(filter(None, items))


STAGE_IN_ITEMS = stage_in_items()
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
        container_image("data")
    wildcard_constraints:
        item="|".join(map(re.escape, STAGE_IN_ITEMS)) or "no-hub-repository",
    shell:
        "{params.endpoint}HF_HUB_OFFLINE=0 python -m magicoder_repro.hub --spec {params.spec:q} --manifest {output:q} > {log:q} 2>&1"
