"""The multi-process path for real: scripts/launch_train.sh with 2 gloo processes on the CPU (accelerate +
torchrun, the DDP config) trains like one process on the same global batch, under each train.precision,
logs the precision policy it ran under, and writes a loadable checkpoint. Subprocesses run under a
deadline, so a hang fails the test instead of stalling it.

FSDP is not tested here: accelerate 1.15 applies FSDP only to GPU process groups (`AcceleratorState` sets
`DistributedType.FSDP` for MULTI_GPU-type runs, never MULTI_CPU), so on CPUs launch_train.sh takes the
DDP config. Under FSDP the same policy holds because accelerate's mixed precision is off everywhere
(train.py's module docstring); train.py also stops at train begin if the prepared model's weights are
not in the policy's dtype, which is what accelerate's FSDP2 upcast did to `bf16`."""
import json
import subprocess

import psutil
import pytest
import torch
from test_train import REPO, RECORDS, SETTINGS, run_env, tiny, write_records  # noqa: F401 (tiny: fixture)

from magicoder_repro.train import train

DEADLINE_S = 240
# Relative tolerance on each step's loss, 2 processes x per-device 2 vs 1 process x 2 micro-batches of 2,
# the same for every precision. Both see the same micro-batches from the same start weights, so the
# forward passes are the same computation. The gradients are too: DDP's all-reduce adds the two ranks'
# gradients once and halves them, accumulation adds the two halved ones, and halving is exact in binary
# floating point, bf16 included. What may differ is the order of the fp32 sums behind the logged loss
# mean (~1e-7 relative), hence 1e-5; measured: equal to the last bit in all three precisions. A rank
# training on its own data, a missing rank's share, or a launcher changing the weights' dtype (bf16 vs
# bf16-mixed: 5e-5 apart after 4 steps, `test_the_tolerance_tells_the_precisions_apart`) is more.
TOLERANCE = 1e-5
POLICY = {  # what each precision must resolve to, whoever launches it
    "fp32": ("float32", "float32", "float32"),
    "bf16": ("bfloat16", "bfloat16", "bfloat16"),
    "bf16-mixed": ("float32", "bfloat16", "float32"),
}


def launch(launch_args, root, model, data, settings):
    """launch_train.sh; past the deadline every process it started is killed (ranks have sessions of their own)."""
    cmd = ["bash", str(REPO / "scripts/launch_train.sh"), *map(str, launch_args), "--model", str(model),
           "--data", str(data), "--out", str(root / "out"), "--log-file", str(root / "log.jsonl"),
           "--scratch", str(root / "scratch"), "--settings", json.dumps(settings)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=run_env())
    try:
        out, _ = proc.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(map(str, launch_args))}: still running after {DEADLINE_S} s\n{out[-4000:]}")
    assert proc.returncode == 0, out[-4000:]
    return read_log(root)


def read_log(root):
    return [json.loads(line) for line in (root / "log.jsonl").read_text().splitlines()]


def one_process(root, model, data, settings):
    """The 1-process reference, in this process (plain python is what launch_train.sh runs for 1)."""
    train(str(model), str(data), str(root / "out"), str(root / "log.jsonl"), str(root / "scratch"), settings)
    return read_log(root)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny):
    """Per precision: the logs of 1 process x 2 micro-batches and of 2 processes x 1, same global batch 4."""
    root = tmp_path_factory.mktemp("dist")
    data = write_records(root / "d.jsonl", RECORDS * 4)  # 16 records, global batch 4: 4 optimizer steps
    # save_steps 2: resumable checkpoints from both ranks on the way.
    base = {**SETTINGS, "epochs": 1, "save_steps": 2, "global_batch_size": 4, "per_device_batch_size": 2}
    result = {}
    for precision in POLICY:
        settings = {**base, "precision": precision}
        one = one_process(root / precision / "one", tiny, data, {**settings, "gradient_accumulation_steps": 2})
        # `fsdp` on purpose: on CPUs the launcher takes the DDP config whatever train.distributed says.
        two = launch([0, 1, "fsdp", 2], root / precision / "two", tiny, data, {**settings, "gradient_accumulation_steps": 1})
        result[precision] = (one, two, root / precision)
    return result


def losses(log):
    return [r["loss"] for r in log if "loss" in r]


@pytest.mark.slow
@pytest.mark.parametrize("precision", list(POLICY))
def test_two_cpu_processes_train_like_one(runs, precision):
    one, two, root = runs[precision]
    assert [r["step"] for r in two if "loss" in r] == [r["step"] for r in one if "loss" in r] == [1, 2, 3, 4]
    assert losses(two) == pytest.approx(losses(one), rel=TOLERANCE, abs=0)
    assert [r["tokens_seen"] for r in two if "loss" in r] == [r["tokens_seen"] for r in one if "loss" in r]

    # The log says what ran, and the prepared model and optimizer held those dtypes.
    for log, launcher, world in ((one, "single", 1), (two, "ddp", 2)):
        (policy,) = [r for r in log if r.get("event") == "precision"]
        assert (policy["param_dtype"], policy["compute_dtype"], policy["reduce_dtype"]) == POLICY[precision]
        assert (policy["launcher"], policy["world_size"]) == (launcher, world)
        assert policy["observed"] == {"param_dtypes": [policy["param_dtype"]], "optimizer_state_dtypes": ["float32"]}

    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    out = root / "two" / "out"
    assert AutoModelForCausalLM.from_pretrained(out).config.model_type == "llama"
    assert not (root / "two" / "scratch").exists()  # removed once the stage finished
    a, b = (load_file(root / run / "out" / "model.safetensors") for run in ("one", "two"))
    assert a.keys() == b.keys() and {t.dtype for t in b.values()} == {getattr(torch, POLICY[precision][0])}
    for k in a:  # the same optimizer steps as one process, up to the rounding the tolerance allows
        torch.testing.assert_close(b[k].float(), a[k].float(), rtol=10 * TOLERANCE, atol=1e-6, msg=k)


@pytest.mark.slow
def test_the_tolerance_tells_the_precisions_apart(runs, tiny):
    """bf16 vs bf16-mixed (what accelerate's FSDP2 upcast turned `bf16` into) differ by more than the
    tolerance, so the equivalence above would catch a launcher that changes the weights' dtype."""
    from safetensors.torch import load_file

    bf16, mixed = losses(runs["bf16"][0]), losses(runs["bf16-mixed"][0])
    assert bf16[0] == pytest.approx(mixed[0], rel=1e-4)  # same start weights, both compute in bf16
    assert max(abs(x - y) / y for x, y in zip(bf16, mixed)) > 2 * TOLERANCE
    start = load_file(tiny / "model.safetensors")
    trained = load_file(runs["bf16"][2] / "one" / "out" / "model.safetensors")
    assert any(not torch.equal(start[k].to(torch.bfloat16), trained[k]) for k in start)  # it trained
