"""The multi-process path for real: scripts/launch_train.sh with 2 gloo processes on the CPU (accelerate +
torchrun, configs/accelerate/ddp.yaml and fsdp.yaml) trains like one process on the same global batch,
under each launcher and each train.precision, logs the precision policy it ran under, and writes a
loadable checkpoint. Subprocesses run under a deadline, so a hang fails the test instead of stalling it.

FSDP on CPUs takes the GPU code path: accelerate gives only GPU process groups its FSDP state, so
train.py's `fsdp_on_cpu` sets that state on gloo, and from there accelerate's FSDP2 preparation
(rank-0 loading and broadcast, fully_shard per decoder layer), the sharded Adafactor and the FSDP
full-state-dict checkpoints run as they do on GPUs; the log's `observed.sharded` shows the parameters
were DTensor shards. DeepSpeed is not tested: it is not installed here (nor on the device), and it
refuses `bf16` anyway (ZeRO keeps fp32 master weights; tests/test_train.py checks that error)."""
import json
import subprocess

import psutil
import pytest
import torch
from test_train import REPO, RECORDS, SETTINGS, run_env, tiny, write_records  # noqa: F401 (tiny: fixture)

from magicoder_repro.train.train import train

DEADLINE_S = 240
# Relative tolerance on each step's loss, 2 processes x per-device 2 vs 1 process x global batch 4 (as
# 2 accumulated micro-batches of 2, so that both see the same micro-batches), the same for every launcher
# and precision. From the same start weights the forward passes are the same computation. The gradients
# are too: DDP's all-reduce, and FSDP's reduce-scatter, add the two ranks' gradients once and halve them;
# accumulation adds the two halved ones; halving is exact in binary floating point, bf16 included. What
# may differ is the order of the fp32 sums behind the logged loss mean (~1e-7 relative), hence 1e-5;
# measured: equal to the last bit for both launchers in all three precisions. A rank training on its own
# data, a missing rank's share, or a launcher changing the weights' dtype (bf16 vs bf16-mixed: 5e-5 apart
# after 4 steps, `test_the_tolerance_tells_the_precisions_apart`) is more.
TOLERANCE = 1e-5
LAUNCHERS = ("ddp", "fsdp")
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
    """Per precision: the logs of 1 process x 2 micro-batches and of 2 processes x 1 under each launcher,
    same global batch 4."""
    root = tmp_path_factory.mktemp("dist")
    data = write_records(root / "d.jsonl", RECORDS * 4)  # 16 records, global batch 4: 4 optimizer steps
    # save_steps 2: resumable checkpoints from both ranks on the way.
    base = {**SETTINGS, "epochs": 1, "save_steps": 2, "global_batch_size": 4, "per_device_batch_size": 2}
    result = {}
    for precision in POLICY:
        settings = {**base, "precision": precision}
        result[precision] = {"root": root / precision, "single": one_process(
            root / precision / "single", tiny, data, {**settings, "gradient_accumulation_steps": 2})}
        for launcher in LAUNCHERS:
            result[precision][launcher] = launch([0, 1, launcher, 2], root / precision / launcher, tiny, data,
                                                 {**settings, "gradient_accumulation_steps": 1})
    return result


def losses(log):
    return [r["loss"] for r in log if "loss" in r]


@pytest.mark.slow
@pytest.mark.parametrize("launcher", LAUNCHERS)
@pytest.mark.parametrize("precision", list(POLICY))
def test_two_cpu_processes_train_like_one(runs, precision, launcher):
    one, two, root = runs[precision]["single"], runs[precision][launcher], runs[precision]["root"]
    assert [r["step"] for r in two if "loss" in r] == [r["step"] for r in one if "loss" in r] == [1, 2, 3, 4]
    assert losses(two) == pytest.approx(losses(one), rel=TOLERANCE, abs=0)
    assert [r["tokens_seen"] for r in two if "loss" in r] == [r["tokens_seen"] for r in one if "loss" in r]

    # The log says what ran, and the prepared model and optimizer held those dtypes (FSDP: as shards).
    for log, ran_by, world in ((one, "single", 1), (two, launcher, 2)):
        (policy,) = [r for r in log if r.get("event") == "precision"]
        assert (policy["param_dtype"], policy["compute_dtype"], policy["reduce_dtype"]) == POLICY[precision]
        assert (policy["launcher"], policy["world_size"]) == (ran_by, world)
        assert policy["observed"] == {"param_dtypes": [policy["param_dtype"]], "optimizer_state_dtypes": ["float32"],
                                      "sharded": ran_by == "fsdp"}

    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    out = root / launcher / "out"
    assert AutoModelForCausalLM.from_pretrained(out).config.model_type == "llama"
    assert not (root / launcher / "scratch").exists()  # removed once the stage finished
    a, b = (load_file(root / run / "out" / "model.safetensors") for run in ("single", launcher))
    assert a.keys() <= b.keys() and {t.dtype for t in b.values()} == {getattr(torch, POLICY[precision][0])}
    for k in a:  # the same optimizer steps as one process, up to the rounding the tolerance allows
        torch.testing.assert_close(b[k].float(), a[k].float(), rtol=10 * TOLERANCE, atol=1e-6, msg=k)


@pytest.mark.slow
def test_the_tolerance_tells_the_precisions_apart(runs, tiny):
    """bf16 vs bf16-mixed (what accelerate's FSDP2 upcast turned `bf16` into) differ by more than the
    tolerance, so the equivalence above would catch a launcher that changes the weights' dtype."""
    from safetensors.torch import load_file

    bf16, mixed = losses(runs["bf16"]["single"]), losses(runs["bf16-mixed"]["single"])
    assert bf16[0] == pytest.approx(mixed[0], rel=1e-4)  # same start weights, both compute in bf16
    assert max(abs(x - y) / y for x, y in zip(bf16, mixed)) > 2 * TOLERANCE
    start = load_file(tiny / "model.safetensors")
    trained = load_file(runs["bf16"]["root"] / "single" / "out" / "model.safetensors")
    assert any(not torch.equal(start[k].to(torch.bfloat16), trained[k]) for k in start)  # it trained
