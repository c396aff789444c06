"""One instruction-tuning stage: a model + instruction records -> a fine-tuned checkpoint and a log.

The recipe is the original Magicoder one (magicoder.md §4) expressed as transformers `Trainer`
arguments: Adafactor without relative step or parameter scaling, linear schedule with warmup, no
clipping, bf16, seed 42, loss on the response only. The same module runs both stages (stage 2 starts
from stage 1's output) on one CPU, one GPU, or many through `accelerate launch` (DDP / FSDP / DeepSpeed).

Precision is `train.precision` alone (see `precision_policy`): this module loads the weights in the
policy's dtype and applies autocast itself; accelerate's own mixed precision stays off, so no launcher
changes a dtype (with it on, accelerate's FSDP2 path upcasts bf16 weights to fp32 master weights).

Preemption: resumable checkpoints (weights, optimizer, scheduler, RNG, data position) go to a scratch
directory beside the output every `save_steps`; SIGTERM or SIGUSR1 (a SLURM `--signal` warning) ends the
optimizer step under way, saves one more and exits 128 + the signal's number, so a scheduler retries;
a rerun resumes from the newest. Everything that can be wrong with the inputs is checked before the
model is loaded.
"""
import argparse
import contextlib
import faulthandler
import json
import os
import shutil
import signal
import sys
from pathlib import Path

import torch

from magicoder_repro.train.sft_data import PaddedCollator, encode_records, load_records, packed_collator, register_varlen_attention
from magicoder_repro.core.errors import one_line_errors

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
# train.precision -> (weight dtype, autocast dtype or None). Gradients take the weights' dtype and are
# reduced across processes in it, under DDP and FSDP2 alike.
PRECISIONS = {
    "bf16": (torch.bfloat16, torch.bfloat16),  # the original: bf16 weights, Trainer bf16 autocast on top
    "bf16-mixed": (torch.float32, torch.bfloat16),  # fp32 master weights, bf16 compute
    "fp32": (torch.float32, None),
}


def world_size() -> int:
    """Processes in this run: set by the launcher (accelerate / torchrun), 1 for a plain python run."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_batch(settings: dict, world: int) -> None:
    """The paper's global batch is a fact; a config whose product differs must not train silently."""
    per_device, accum = settings["per_device_batch_size"], settings["gradient_accumulation_steps"]
    total = settings["global_batch_size"]
    if per_device * accum * world != total:
        hint = (f"gradient_accumulation_steps {total // (per_device * world)} would match"
                if total % (per_device * world) == 0 else f"world size x per_device_batch_size does not divide {total}")
        raise ValueError(
            f"train.stages.<stage>.global_batch_size {total} != per_device_batch_size {per_device} x "
            f"gradient_accumulation_steps {accum} x world size {world} (= {per_device * accum * world}; {hint}); "
            "change the stage's settings or the number of processes (train.gpus, or train.cpu_processes "
            "without GPUs, x train.nodes)"
        )


def launcher() -> str:
    """The parallelism `accelerate launch` set up from its config (it exports these), 'single' without it."""
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        return "deepspeed"
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        return "fsdp"
    return "ddp" if world_size() > 1 else "single"


def precision_policy(precision: str, optimizer: str, on_gpu: bool) -> dict:
    """`train.precision` resolved to the dtypes of every part of a step, the same under every launcher.

    Checked here, before any weights load: the hardware can do it, and the accelerate config that
    started this process (scripts/launch_train.sh names it) does not set a precision of its own.
    """
    if precision == "auto":
        precision = "bf16" if on_gpu else "fp32"
    config = os.environ.get("MAGICODER_ACCELERATE_CONFIG", "the accelerate config")
    mixed = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if mixed != "no":
        raise ValueError(f"{config}: mixed_precision {mixed!r} contradicts train.precision {precision!r}; set "
                         "mixed_precision: 'no' there (train.precision sets every dtype; accelerate's would make "
                         "FSDP upcast bf16 weights to fp32)")
    run_by = launcher()
    if run_by == "deepspeed" and precision == "bf16":
        raise ValueError(f"train.precision 'bf16' (bf16 weights, no fp32 copy) contradicts train.distributed "
                         f"'deepspeed' ({config}): ZeRO keeps fp32 master partitions; use train.precision "
                         "'bf16-mixed', or train.distributed 'ddp' or 'fsdp'")
    weights, autocast = PRECISIONS[precision]
    if on_gpu and torch.bfloat16 in (weights, autocast) and not torch.cuda.is_bf16_supported():
        raise ValueError(f"train.precision {precision!r} needs bfloat16, which {torch.cuda.get_device_name()} "
                         "cannot do; set train.precision: fp32")
    name = lambda dtype: str(dtype).removeprefix("torch.")  # noqa: E731
    return {
        "precision": precision, "param_dtype": name(weights), "compute_dtype": name(autocast or weights),
        "grad_dtype": name(weights), "reduce_dtype": name(weights),
        # transformers' Adafactor keeps its factored statistics in fp32 whatever the weights; AdamW in theirs.
        "optimizer_state_dtype": "float32" if optimizer == "adafactor" else name(weights),
        "launcher": run_by, "world_size": world_size(),
    }


def resolve(settings: dict, on_gpu: bool) -> dict:
    """Turn `auto` values into concrete ones: padding-free varlen batches and compiled layers on GPUs."""
    s = dict(settings)
    if s["packing"] == "auto":
        s["packing"] = on_gpu
    if s["compile"] == "auto":
        s["compile"] = bool(s["packing"] and on_gpu)
    if s["attention"] == "auto":
        s["attention"] = "torch_varlen" if (s["packing"] and on_gpu) else "sdpa"
    return s


def load_model_config(model: str, max_length: int):
    """The model's config, with clear errors for a missing model or a too long max_length."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model)
    except (OSError, ValueError) as e:
        raise FileNotFoundError(
            f"base model {model!r} not found: neither a model directory nor a reachable Hub id "
            f"(offline: set HF_HUB_OFFLINE=0 or point train.base_model at a local copy). {e}"
        ) from None
    limit = getattr(config, "max_position_embeddings", None)
    if limit is not None and max_length > limit:
        raise ValueError(f"max_length {max_length} exceeds {model}'s max_position_embeddings {limit}")
    return config


def last_checkpoint(scratch: Path):
    """The newest complete Trainer checkpoint in `scratch`, or None."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(scratch)) if scratch.is_dir() else None


def sharded_adafactor():
    """transformers' Adafactor, whose factored second-moment state also works on FSDP2-sharded params.

    The stock optimizer creates its row/column statistics as plain tensors, which cannot be mixed with
    the DTensor gradients FSDP2 produces. Creating them as DTensors (column statistics replicated, as
    they reduce over the sharded dimension) keeps the maths of the full matrix; DTensor inserts the
    reductions. Unsharded parameters take the stock path unchanged.
    """
    from transformers.optimization import Adafactor

    class ShardedAdafactor(Adafactor):
        @torch.no_grad()
        def step(self, closure=None):
            from torch.distributed.tensor import DTensor, Replicate

            def settled(t):  # a reduction's pending sum becomes a replicated value
                return t.redistribute(t.device_mesh, [Replicate() if p.is_partial() else p for p in t.placements])

            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None or self.state[p] or not isinstance(p.grad, DTensor):
                        continue
                    grad = p.grad.float()
                    factored, use_first_moment = self._get_options(group, grad.shape)
                    state = self.state[p]
                    state.update(step=0, RMS=0)
                    if use_first_moment:
                        state["exp_avg"] = torch.zeros_like(grad)
                    if factored:
                        state["exp_avg_sq_row"] = torch.zeros_like(settled(grad.mean(dim=-1)))
                        state["exp_avg_sq_col"] = torch.zeros_like(settled(grad.mean(dim=-2)))
                    else:
                        state["exp_avg_sq"] = torch.zeros_like(grad)
            return super().step(closure)

    return ShardedAdafactor


_stop = {"signum": 0}  # the stop signal received; main() installs the handler


def _request_stop(signum, frame):
    _stop["signum"] = signum


def fsdp_on_cpu(accelerator) -> None:
    """Give a gloo process group the FSDP2 state `accelerate launch` gives GPUs from configs/accelerate/fsdp.yaml.

    accelerate 1.15 applies FSDP only to GPU-type process groups (AcceleratorState turns MULTI_GPU, never
    MULTI_CPU, into FSDP), while torch's FSDP2 runs on gloo. This sets what AcceleratorState would have set
    for a GPU: the FSDP type and the plugin built from the launcher's FSDP_* variables (as Accelerator builds
    it). From here on the run takes accelerate's and the Trainer's FSDP code, the same as on GPUs: rank-0
    loading and broadcast, fully_shard per decoder layer, sharded optimizer state, full-state-dict saves.
    """
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    state = accelerator.state
    if state.distributed_type != DistributedType.MULTI_CPU:
        raise RuntimeError(f"fsdp_on_cpu: a {state.distributed_type} process group, not gloo on CPUs")
    state.fsdp_plugin = FullyShardedDataParallelPlugin()
    state.distributed_type = PartialState._shared_state["distributed_type"] = DistributedType.FSDP


def policy_trainer(autocast_dtype):
    """A Trainer that autocasts as `train.precision` says, the same under every launcher (FSDP on CPUs too)."""
    from transformers import Trainer

    class PolicyTrainer(Trainer):
        def create_accelerator_and_postprocess(self):
            super().create_accelerator_and_postprocess()
            if launcher() == "fsdp" and not self.is_fsdp_enabled:  # processes on CPUs (fsdp_on_cpu)
                fsdp_on_cpu(self.accelerator)
                self.is_fsdp_enabled = True

        def autocast_smart_context_manager(self, cache_enabled=True):
            if autocast_dtype is None:
                return contextlib.nullcontext()
            return torch.autocast(self.args.device.type, dtype=autocast_dtype, cache_enabled=cache_enabled)

    return PolicyTrainer


def train(model_path: str, data_path: str, out_dir: str, log_file: str, scratch: str, settings: dict) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments

    # transformers renamed gradient_checkpointing (still accepted, with a warning) in 5.2x.
    fields = TrainingArguments.__dataclass_fields__
    checkpointing_arg = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    # Checks before anything heavy: batch arithmetic, precision, data, model, length.
    world = world_size()
    check_batch(settings, world)
    s = resolve(settings, torch.cuda.is_available())
    policy = precision_policy(s["precision"], s["optimizer"], torch.cuda.is_available())
    records = load_records(data_path)
    load_model_config(model_path, s["max_length"])
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.eos_token_id is None:  # BOS is optional (sft_data.encode); the end of a response is not
        raise ValueError(f"{model_path}: the tokenizer has no EOS token")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    examples = encode_records(tokenizer, records, s["max_length"])

    scratch = Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    scratch_log = scratch / "log.jsonl"
    resume = last_checkpoint(scratch)
    if resume and int(os.environ.get("RANK", "0")) == 0:
        with open(scratch_log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": "resume", "checkpoint": Path(resume).name}) + "\n")

    attention = register_varlen_attention() if s["attention"] == "torch_varlen" else s["attention"]
    weights_dtype, autocast_dtype = PRECISIONS[policy["precision"]]
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=weights_dtype, attn_implementation=attention)
    # No KV cache in training: with one, transformers skips the packed-sequence mask and records that
    # share a padding-free row would attend to each other.
    model.config.use_cache = False
    if s["compile"]:  # fuses each layer's norm, rotary and SwiGLU kernels; packed rows vary in length
        for layer in model.model.layers:
            layer.compile(dynamic=True)
    args = TrainingArguments(
        output_dir=str(scratch),
        num_train_epochs=s["epochs"],
        learning_rate=s["learning_rate"],
        per_device_train_batch_size=s["per_device_batch_size"],
        gradient_accumulation_steps=s["gradient_accumulation_steps"],
        optim=s["optimizer"],
        lr_scheduler_type=s["lr_scheduler"],
        warmup_steps=s["warmup_steps"],
        max_grad_norm=s["max_grad_norm"],
        weight_decay=0.0,
        bf16=False,  # accelerate's mixed precision stays off: PolicyTrainer autocasts (module docstring)
        **{checkpointing_arg: s["gradient_checkpointing"]},
        seed=s["seed"],
        data_seed=s["seed"],
        logging_steps=1,
        save_strategy="steps",
        save_steps=s["save_steps"],
        save_total_limit=s["save_total_limit"],
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        dataloader_drop_last=False,
        report_to=[],
        disable_tqdm=True,
        ddp_find_unused_parameters=False,  # every parameter gets a gradient: skip DDP's extra graph walk
    )
    if args.world_size != world:  # e.g. CPU workers without ACCELERATE_USE_CPU: each would train alone
        raise RuntimeError(f"the launcher started {world} processes but the Trainer sees {args.world_size} "
                           "(processes on CPUs need ACCELERATE_USE_CPU=true: use scripts/launch_train.sh)")
    collator = packed_collator() if s["packing"] else PaddedCollator(pad_id)
    from magicoder_repro.train.callbacks import make_callbacks

    callbacks = make_callbacks(scratch_log, policy, lambda: _stop["signum"])
    stop_cb = callbacks[1]  # JsonlLog, StopOnSignal[, ProfileSecondStep]
    trainer_cls = policy_trainer(autocast_dtype)
    optimizer = None
    if s["optimizer"] == "adafactor":  # same class and arguments as optim="adafactor", FSDP2-aware
        optimizer = (sharded_adafactor(), trainer_cls.get_optimizer_cls_and_kwargs(args, model)[1])
    trainer = trainer_cls(model=model, args=args, train_dataset=examples, data_collator=collator,
                          processing_class=tokenizer, callbacks=callbacks, optimizer_cls_and_kwargs=optimizer)
    trainer.train(resume_from_checkpoint=resume)
    if stop_cb.signum:
        print(f"{signal.Signals(stop_cb.signum).name}: saved a checkpoint in {scratch} at step "
              f"{trainer.state.global_step}; rerun to resume", file=sys.stderr)
        sys.exit(128 + stop_cb.signum)

    # The final model is loaded later with plain from_pretrained: save it with standard attention.
    trainer.model.config._attn_implementation = "sdpa" if attention == "torch_varlen" else attention
    trainer.model.config.use_cache = True
    trainer.save_model(out_dir)
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(out_dir)
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(scratch_log, log_file)
        shutil.rmtree(scratch, ignore_errors=True)


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="base model / previous stage: directory or Hub id")
    p.add_argument("--data", required=True, help="JSONL records with instruction and response")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--log-file", required=True, help="JSONL training log to write")
    p.add_argument("--scratch", required=True, help="resumable checkpoints while training")
    p.add_argument("--settings", required=True, help="JSON: the train section merged with the stage's settings")
    a = p.parse_args(argv)
    for signum in STOP_SIGNALS:
        signal.signal(signum, _request_stop)
    # SIGUSR1 also prints where each process is (a hung run); launch_train.sh makes its launchers ignore it.
    faulthandler.register(signal.SIGUSR1, all_threads=True, chain=True)
    train(a.model, a.data, a.out, a.log_file, a.scratch, json.loads(a.settings))


if __name__ == "__main__":
    main()
