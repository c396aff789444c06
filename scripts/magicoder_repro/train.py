"""One instruction-tuning stage: a model + instruction records -> a fine-tuned checkpoint and a log.

The recipe is the original Magicoder one (magicoder.md §4) expressed as transformers `Trainer`
arguments: Adafactor without relative step or parameter scaling, linear schedule with warmup, no
clipping, bf16, seed 42, loss on the response only. The same module runs both stages (stage 2 starts
from stage 1's output) on one CPU, one GPU, or many through `accelerate launch` (FSDP / DeepSpeed).

Preemption: resumable checkpoints (weights, optimizer, scheduler, RNG, data position) go to a scratch
directory beside the output every `save_steps`; SIGTERM saves one more and exits 143; a rerun resumes
from the newest. Everything that can be wrong with the inputs is checked before the model is loaded.
"""
import argparse
import faulthandler
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import torch

from .sft_data import PaddedCollator, encode_records, load_records, packed_collator, register_varlen_attention
from .errors import one_line_errors

SIGTERM_EXIT = 143


def world_size() -> int:
    """Processes in this run: set by the launcher (accelerate / torchrun), 1 for a plain python run."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_batch(settings: dict, world: int) -> None:
    """The paper's global batch is a fact; a config whose product differs must not train silently."""
    per_device, accum = settings["per_device_batch_size"], settings["gradient_accumulation_steps"]
    if per_device * accum * world != settings["global_batch_size"]:
        raise ValueError(
            f"global_batch_size {settings['global_batch_size']} != per_device_batch_size {per_device} x "
            f"gradient_accumulation_steps {accum} x world size {world} (= {per_device * accum * world}); "
            "change the stage's settings or the number of processes (train.gpus, or train.cpu_processes "
            "without GPUs, x train.nodes)"
        )


def resolve(settings: dict, on_gpu: bool) -> dict:
    """Turn `auto` values into concrete ones: bf16, padding-free varlen batches and compiled layers on GPUs."""
    s = dict(settings)
    if s["precision"] == "auto":
        s["precision"] = "bf16" if on_gpu else "fp32"
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


def make_callbacks(log_path: Path):
    from transformers import TrainerCallback

    class JsonlLog(TrainerCallback):
        """Loss, learning rate and tokens/s per logged step, appended across resumed attempts."""

        def __init__(self):
            self.last = None  # (time, tokens seen) at the previous log

        def _write(self, record, state):
            if state.is_world_process_zero:
                with open(log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")

        def on_train_begin(self, args, state, control, **kw):
            self.last = (time.perf_counter(), state.num_input_tokens_seen)
            self._write({"event": "start", "step": state.global_step, "max_steps": state.max_steps}, state)

        def on_log(self, args, state, control, logs=None, **kw):
            if logs is None or "loss" not in logs:
                return
            now, seen = time.perf_counter(), state.num_input_tokens_seen
            rate = (seen - self.last[1]) / max(now - self.last[0], 1e-9)
            self.last = (now, seen)
            record = {"step": state.global_step, "epoch": state.epoch, "loss": logs["loss"],
                      "learning_rate": logs.get("learning_rate"), "tokens_seen": seen, "tokens_per_s": rate}
            self._write(record, state)

    class StopOnSigterm(TrainerCallback):
        """Turn SIGTERM into: finish this optimizer step, save a checkpoint, stop (all ranks agree)."""

        def __init__(self):
            self.requested = False
            signal.signal(signal.SIGTERM, self._handler)

        def _handler(self, signum, frame):
            self.requested = True

        def stop_requested(self, device):
            flag = torch.tensor(float(self.requested), device=device)  # this rank's own GPU under NCCL
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(flag)
            return bool(flag.item())

        def on_step_end(self, args, state, control, **kw):
            if self.stop_requested(args.device):
                self.requested = True
                control.should_save = True
                control.should_training_stop = True

    return JsonlLog(), StopOnSigterm()


def train(model_path: str, data_path: str, out_dir: str, log_file: str, scratch: str, settings: dict) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    # transformers renamed gradient_checkpointing (still accepted, with a warning) in 5.2x.
    fields = TrainingArguments.__dataclass_fields__
    checkpointing_arg = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    # Checks before anything heavy: batch arithmetic, data, model, length.
    world = world_size()
    check_batch(settings, world)
    s = resolve(settings, torch.cuda.is_available())
    records = load_records(data_path)
    load_model_config(model_path, s["max_length"])
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.bos_token_id is None or tokenizer.eos_token_id is None:
        raise ValueError(f"{model_path}: the tokenizer needs BOS and EOS tokens")
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
    dtype = torch.bfloat16 if s["precision"] == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, attn_implementation=attention)
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
        bf16=s["precision"] == "bf16",
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
    log_cb, sigterm_cb = make_callbacks(scratch_log)
    optimizer = None
    if s["optimizer"] == "adafactor":  # same class and arguments as optim="adafactor", FSDP2-aware
        optimizer = (sharded_adafactor(), Trainer.get_optimizer_cls_and_kwargs(args, model)[1])
    trainer = Trainer(model=model, args=args, train_dataset=examples, data_collator=collator,
                      processing_class=tokenizer, callbacks=[log_cb, sigterm_cb], optimizer_cls_and_kwargs=optimizer)
    trainer.train(resume_from_checkpoint=resume)
    if sigterm_cb.requested:
        print(f"SIGTERM: saved a checkpoint in {scratch} at step {trainer.state.global_step}; rerun to resume",
              file=sys.stderr)
        sys.exit(SIGTERM_EXIT)

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
    # A hung run: SIGUSR1 prints where each process waits (launch_train.sh makes its launchers ignore it).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    train(a.model, a.data, a.out, a.log_file, a.scratch, json.loads(a.settings))


if __name__ == "__main__":
    main()
