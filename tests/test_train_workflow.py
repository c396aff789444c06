"""The offline default through Snakemake: tiny base model -> stage 1 -> stage 2, each a loadable
checkpoint with a training log; stage 2 starts from stage 1's weights; a changed stage-2 setting
reruns stage 2 only."""
import json

import pytest
import yaml
from conftest import run_snakemake

OVERLAY = {
    "train": {
        "tiny_model": {"params": {"vocab_size": 512, "hidden_size": 32, "layers": 2, "heads": 2, "max_positions": 512}},
        "save_steps": 2,
        "stages": {
            stage: {"epochs": 1, "learning_rate": 1.0e-3, "max_length": 256, "global_batch_size": 2,
                    "per_device_batch_size": 1, "gradient_accumulation_steps": 2}
            for stage in ("stage1", "stage2")
        },
    }
}
RULES = ["tiny_base_model", "train_stage1", "train_stage2"]


def write_sft(workdir):
    sft = workdir / "results" / "sft"
    sft.mkdir(parents=True)
    for stage, n in (("stage1", 6), ("stage2", 4)):
        with open(sft / f"{stage}.jsonl", "w") as f:
            for i in range(n):
                f.write(json.dumps({"instruction": f"{stage} task {i}: add {i} to x", "response": f"def f(x):\n    return x + {i}\n"}) + "\n")


@pytest.mark.slow
def test_two_stages_through_snakemake(workdir):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    write_sft(workdir)
    (workdir / "overlay.yaml").write_text(yaml.safe_dump(OVERLAY))
    args = ["--configfile", "config.yaml", "overlay.yaml", "--allowed-rules", *RULES]
    run_snakemake(workdir, "results/checkpoints/stage2", *args)

    for stage, steps in (("stage1", 3), ("stage2", 2)):
        out = workdir / "results" / "checkpoints" / stage
        AutoTokenizer.from_pretrained(out)
        AutoModelForCausalLM.from_pretrained(out)
        log = [json.loads(l) for l in (workdir / "results" / "train" / f"{stage}.log.jsonl").read_text().splitlines()]
        losses = [r for r in log if "loss" in r]
        assert [r["step"] for r in losses] == list(range(1, steps + 1))
        assert all(r["tokens_per_s"] > 0 and r["learning_rate"] is not None for r in losses)
        (policy,) = [r for r in log if r.get("event") == "precision"]  # auto on CPU: fp32, one process
        assert (policy["precision"], policy["launcher"], policy["world_size"]) == ("fp32", "single", 1)
        assert policy["observed"]["param_dtypes"] == ["float32"]
        assert not (workdir / "results" / "checkpoints" / f"{stage}.scratch").exists()

    base = load_file(workdir / "results/models/tiny-base/model.safetensors")
    s1 = load_file(workdir / "results/checkpoints/stage1/model.safetensors")
    s2 = load_file(workdir / "results/checkpoints/stage2/model.safetensors")
    key = "model.layers.0.mlp.up_proj.weight"
    # Stage 2 moved away from stage 1, which moved away from the base; stage 2 is nearer stage 1.
    assert not torch.equal(base[key], s1[key]) and not torch.equal(s1[key], s2[key])
    assert (s2[key] - s1[key]).norm() < (s2[key] - base[key]).norm()

    # Editing a stage-2 setting reruns stage 2 and nothing before it.
    OVERLAY["train"]["stages"]["stage2"]["learning_rate"] = 5.0e-4
    (workdir / "overlay.yaml").write_text(yaml.safe_dump(OVERLAY))
    dry = run_snakemake(workdir, "results/checkpoints/stage2", *args, "-n", "--quiet", "rules")
    jobs = {line.split()[0] for line in dry.stdout.splitlines() if line.strip() and line.split()[-1].isdigit()}
    assert jobs == {"total", "train_stage2"}, dry.stdout
