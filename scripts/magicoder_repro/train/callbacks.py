"""The Trainer callbacks of train.py: the JSONL training log (with the precision policy and the dtypes
the prepared model really holds), a clean stop on SIGTERM/SIGUSR1, and an optional profile of one step."""
import json
import os
import time
from pathlib import Path

import torch
from transformers import TrainerCallback


def dtypes(tensors) -> list[str]:
    floating = (t for t in tensors if torch.is_tensor(t) and t.is_floating_point())
    return sorted({str(t.dtype).removeprefix("torch.") for t in floating})


def sharded(model) -> bool:
    """Whether the prepared model's parameters are FSDP2 shards (DTensors), as `distributed: fsdp` means."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


class JsonlLog(TrainerCallback):
    """Loss, learning rate and tokens/s per logged step, appended across resumed attempts; the precision
    policy with the dtypes the prepared model and optimizer really hold."""

    def __init__(self, log_path: Path, policy: dict):
        self.log_path, self.policy = log_path, policy
        self.last = None  # (time, tokens seen) at the previous log
        self.policy_logged = False

    def _write(self, record, state):
        if state.is_world_process_zero:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def on_train_begin(self, args, state, control, model=None, **kw):
        held, policy = dtypes(model.parameters()), self.policy
        if held != [policy["param_dtype"]]:  # a launcher changed the weights' dtype behind our back
            raise RuntimeError(f"train.precision {policy['precision']!r} means {policy['param_dtype']} weights, "
                               f"but under {policy['launcher']} the prepared model holds {held}")
        self.last = (time.perf_counter(), state.num_input_tokens_seen)
        self._write({"event": "start", "step": state.global_step, "max_steps": state.max_steps}, state)

    def on_step_end(self, args, state, control, model=None, optimizer=None, **kw):
        if not self.policy_logged:  # after the first step of each attempt: the optimizer state exists
            self.policy_logged = True
            state_tensors = [v for st in optimizer.state.values() for v in st.values()]
            observed = {"param_dtypes": dtypes(model.parameters()), "optimizer_state_dtypes": dtypes(state_tensors),
                        "sharded": sharded(model)}
            self._write({"event": "precision", **self.policy, "observed": observed}, state)

    def on_log(self, args, state, control, logs=None, **kw):
        if logs is None or "loss" not in logs:
            return
        now, seen = time.perf_counter(), state.num_input_tokens_seen
        rate = (seen - self.last[1]) / max(now - self.last[0], 1e-9)
        self.last = (now, seen)
        record = {"step": state.global_step, "epoch": state.epoch, "loss": logs["loss"],
                  "learning_rate": logs.get("learning_rate"), "tokens_seen": seen, "tokens_per_s": rate}
        if torch.cuda.is_available():
            record["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
        self._write(record, state)


class StopOnSignal(TrainerCallback):
    """Turn SIGTERM/SIGUSR1 into: finish this optimizer step, save a checkpoint, stop (all ranks agree)."""

    def __init__(self, received):
        self.received = received  # () -> the stop signal's number, 0 if none
        self.signum = 0

    def on_step_end(self, args, state, control, **kw):
        flag = torch.tensor(self.received(), device=args.device)  # this rank's own GPU under NCCL
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        self.signum = int(flag.item())
        if self.signum:
            control.should_save = True
            control.should_training_stop = True


def kernel_kind(name: str) -> str:
    """What a CUDA kernel does, by its name: cuBLAS/CUTLASS matmuls, flash attention, Inductor's fused code."""
    n = name.lower()
    if "flash" in n:
        return "attention"
    if any(s in n for s in ("nvjet", "gemm", "cutlass", "xmma", "cublas")):
        return "matmul"
    return "compiled" if n.startswith("triton") else "other"


def profile_summary(prof, wall: float) -> dict:
    """Device time of the kernels (not again under the ops that launched them) by kind, the GPU's idle
    share of the step, the top 30 kernels, and the optimizer step's span on the device."""
    rows = prof.key_averages()
    device = lambda e: e.self_device_time_total / 1e6  # noqa: E731 (seconds)
    on_device = [e for e in rows if str(e.device_type).endswith("CUDA")]
    ranges = [e for e in on_device if e.key.startswith("Optimizer.")]  # the optimizer's annotated span
    kernels = [e for e in on_device if e not in ranges]
    busy = sum(map(device, kernels))
    by_kind = {}
    for e in kernels:
        by_kind[kernel_kind(e.key)] = by_kind.get(kernel_kind(e.key), 0.0) + device(e)
    top = sorted(kernels, key=device, reverse=True)[:30]
    return {"wall_s": wall, "device_busy_s": busy, "idle_share": 1 - busy / wall if wall else None,
            "device_s_by_kind": by_kind, "kernel_launches": sum(e.count for e in kernels),
            "annotated_ranges_device_s": {e.key: device(e) for e in ranges},
            "top_kernels": [{"name": e.key[:120], "device_s": device(e), "count": e.count} for e in top]}


class ProfileSecondStep(TrainerCallback):
    """torch.profiler over the second optimizer step (the first compiles), summary as JSON to `path`."""

    def __init__(self, path):
        self.path, self.prof, self.t0 = Path(path), None, None

    def on_step_begin(self, args, state, control, **kw):
        if state.global_step == 1 and self.prof is None:
            activities = [torch.profiler.ProfilerActivity.CPU] + (
                [torch.profiler.ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
            self.prof = torch.profiler.profile(activities=activities)
            self.prof.__enter__()
            self.t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        if self.prof is None or self.t0 is None:
            return
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        wall = time.perf_counter() - self.t0
        self.prof.__exit__(None, None, None)
        self.t0 = None
        if state.is_world_process_zero:
            self.path.write_text(json.dumps(profile_summary(self.prof, wall), indent=1))


def make_callbacks(log_path: Path, policy: dict, stop_received) -> list:
    """JsonlLog, StopOnSignal and, with MAGICODER_TRAIN_PROFILE (benchmarks/train_throughput.py --profile),
    ProfileSecondStep."""
    callbacks = [JsonlLog(log_path, policy), StopOnSignal(stop_received)]
    if os.environ.get("MAGICODER_TRAIN_PROFILE"):
        callbacks.append(ProfileSecondStep(os.environ["MAGICODER_TRAIN_PROFILE"]))
    return callbacks
