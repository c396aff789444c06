# Helpers shared by every rule file: config lookups, target lists, how rules call the Python package.
import json
import os
import sys
from pathlib import Path

# Rules run `python -m magicoder_repro.<stage>`: the package is found through PYTHONPATH (also inside
# containers, where the work tree is mounted) and `python` is this interpreter's when run from a venv.
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(Path(workflow.basedir) / "scripts"), os.environ.get("PYTHONPATH")])
)
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])

RESULTS = "results"
CACHE = config.get("cache_dir", "cache")


def as_json(obj):
    """A config section as canonical JSON, for `params:` (a changed value reruns the rule)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def languages():
    """Languages with at least one seed to draw, in config order."""
    return [lang for lang, src in config["seeds"]["sources"].items() if src.get("count", 0) > 0]


TINY_BASE_MODEL = f"{RESULTS}/models/tiny-base"


def base_model():
    """The base model to fine-tune: a local path or Hub id from `train.base_model`, or (value `tiny`,
    the offline default) the directory the rule `tiny_base_model` builds."""
    name = config["train"]["base_model"]
    return TINY_BASE_MODEL if name == "tiny" else name


def checkpoint_dir(stage):
    """Final checkpoint of a training stage (`stage1` or `stage2`), loadable with from_pretrained."""
    return f"{RESULTS}/checkpoints/{stage}"


def all_targets():
    """What `snakemake` builds by default; each stage's rule file adds its final outputs here."""
    evaluation = config.get("evaluation", {})
    scores = [f"{RESULTS}/eval/{m}/{b}.json" for m in evaluation.get("models", {}) for b in evaluation.get("benchmarks", {})]
    return [f"{RESULTS}/sft/stage1.jsonl", f"{RESULTS}/sft/stage2.jsonl", checkpoint_dir("stage2"),
            *scores, f"{RESULTS}/report/index.html"]
