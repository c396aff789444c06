"""The real training path on 1 GPU and on N GPUs (accelerate + DDP and FSDP, the repo's configs): same records,
same global batch, so the per-step losses must agree and fall.

Builds a random-init DeepSeek-Coder-1.3B-architecture model directory with a small BPE tokenizer
trained on the demo corpus (the GPU machines have no weights), synthesises instruction records from
the demo corpus, then runs scripts/launch_train.sh twice: 1 x per-device 2 x accumulation N, and
N x per-device 2 x accumulation 1. Writes both training logs and a comparison to --out.

A launch that fails or hangs says where, in files under --out written while it runs: <run>.log (the
launcher and every rank's lines, with NCCL_DEBUG=INFO and c10d's INFO log, timestamped) and
<run>.rank<N>.stderr.txt; train_multi_gpu.json is rewritten after each launch. Past --timeout seconds
every rank gets SIGUSR1 (it prints its Python stacks, see train.py) and the launch is killed.

    python benchmarks/train_multi_gpu.py --gpus 2 --timeout 150 --out results/
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from magicoder_repro.train.tiny_model import corpus_texts, train_tokenizer  # noqa: E402

# Defaults under the caller's environment. TORCH_DISTRIBUTED_DEBUG=DETAIL (collectives checked across
# ranks) segfaulted DDP's construction on CPU with torch 2.13, so INFO; a caller may still ask for DETAIL.
# NVLink multicast stays off: on the shared device hosts it can take the GPUs out of service.
DEBUG_ENV = {"NCCL_DEBUG": "INFO", "TORCH_DISTRIBUTED_DEBUG": "INFO", "TORCH_CPP_LOG_LEVEL": "INFO",
             "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1", "NCCL_NVLS_ENABLE": "0",
             "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
DS_13B = dict(hidden_size=2048, intermediate_size=5504, num_hidden_layers=24, num_attention_heads=16,
              num_key_value_heads=16, vocab_size=32256, max_position_embeddings=16384, rope_theta=100000.0)


def build_model(out: Path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer(corpus_texts(sorted((REPO / "data/demo/corpus").glob("*.jsonl"))), 4096)
    cfg = LlamaConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, **DS_13B)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(out)
    tokenizer.save_pretrained(out)


def build_records(path: Path, n: int):
    docs = corpus_texts(sorted((REPO / "data/demo/corpus").glob("*.jsonl")))
    with open(path, "w") as f:
        for i in range(n):
            doc = docs[i % len(docs)]
            f.write(json.dumps({"instruction": f"Explain and rewrite this code:\n{doc[:300]}", "response": doc[:2500]}) + "\n")


def launch(cmd, env, log_path: Path, timeout: float):
    """Run `cmd` with its output streamed to `log_path`; past `timeout`: stacks of every rank, then kill."""
    log_path.unlink(missing_ok=True)
    with open(log_path, "a") as log:  # appends, as the launcher's own writes to the same file do
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Every process below the launcher: torchrun starts each rank in a session of its own.
            tree = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
            log.write(f"\n### watchdog: {timeout:.0f} s passed; SIGUSR1 to {tree} (each rank dumps its stacks)\n")
            log.flush()
            send(tree, signal.SIGUSR1)
            time.sleep(10)
            send([proc.pid, *tree], signal.SIGKILL)
            proc.wait()
            return None


def send(pids, sig):
    """Signal each process that still exists."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:  # ended meanwhile
            pass


def run(gpus: int, world: int, work: Path, model: Path, data: Path, compile_: str, out_dir: Path, timeout: float,
        backend: str = "fsdp"):
    settings = {"seed": 42, "precision": "bf16", "attention": "auto", "packing": "auto", "compile": compile_,
                "optimizer": "adafactor", "lr_scheduler": "linear", "warmup_steps": 2, "max_grad_norm": 0,
                "gradient_checkpointing": False, "save_steps": 1000, "save_total_limit": 1, "epochs": 1,
                "learning_rate": 3e-4, "max_length": 1216, "global_batch_size": 2 * world,
                "per_device_batch_size": 2, "gradient_accumulation_steps": world // gpus}
    name = f"gpus{gpus}-{backend}" if gpus > 1 else "gpus1"
    out, rank_logs = work / name, work / f"{name}.ranks"
    for d in (out, rank_logs):
        shutil.rmtree(d, ignore_errors=True)
    cmd = ["bash", str(REPO / "scripts/launch_train.sh"), str(gpus), "1", backend, "1", "--model", str(model),
           "--data", str(data), "--out", str(out / "model"), "--log-file", str(out / "log.jsonl"),
           "--scratch", str(out / "scratch"), "--settings", json.dumps(settings)]
    env = {**DEBUG_ENV, **os.environ, "PYTHONPATH": str(REPO / "scripts"), "RANK_LOG_DIR": str(rank_logs)}
    start = time.perf_counter()
    rc = launch(cmd, env, out_dir / f"{name}.log", timeout)
    seconds = round(time.perf_counter() - start, 1)
    for f in sorted(rank_logs.rglob("stderr.log")):  # torchrun's layout: <run id>/attempt_<n>/<local rank>/
        shutil.copyfile(f, out_dir / f"{name}.rank{f.parent.name}.stderr.txt")
    print(f"{name}: exit {rc} after {seconds} s", flush=True)
    if rc != 0:
        return {"status": f"timed out after {timeout:.0f} s" if rc is None else f"exit {rc}", "seconds": seconds}
    return {"status": "ok", "seconds": seconds,
            "steps": [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines() if '"loss"' in l]}


def summary(launched: dict, reference: dict | None = None) -> dict:
    """A launch's status and time; its losses and tokens/s if it trained, compared with `reference`."""
    result = {k: v for k, v in launched.items() if k != "steps"}
    if launched["status"] == "ok":
        steps = launched["steps"]
        result.update(loss=[r["loss"] for r in steps], tokens_per_s=[r["tokens_per_s"] for r in steps],
                      loss_fell=steps[-1]["loss"] < steps[0]["loss"], n_steps=len(steps))
        if reference and reference["status"] == "ok":
            result["max_rel_diff_vs_1gpu"] = max(
                abs(x["loss"] - y["loss"]) / x["loss"] for x, y in zip(reference["steps"], steps))
            # Same global batch: tokens/s over 1 GPU's is the scaling (the goal: >= 1.9x on 2).
            rate = lambda run: statistics.median(r["tokens_per_s"] for r in run["steps"][1:] or run["steps"])  # noqa: E731
            result["scaling_vs_1gpu"] = rate(launched) / rate(reference)
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gpus", type=int, default=2)
    p.add_argument("--records", type=int, default=40)
    p.add_argument("--compile", default="auto")
    p.add_argument("--backends", nargs="+", default=["ddp", "fsdp"], help="accelerate configs to compare with 1 GPU")
    p.add_argument("--timeout", type=float, default=300, help="seconds per launch before its stacks are dumped")
    p.add_argument("--work", default="/tmp/multi_gpu")
    p.add_argument("--out", default=".")
    a = p.parse_args()
    work, out_dir = Path(a.work), Path(a.out)
    work.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    build_model(work / "base")
    build_records(work / "records.jsonl", a.records)
    result = {"gpus": a.gpus, "build_seconds": round(time.perf_counter() - start, 1)}
    print(f"model and records built in {result['build_seconds']} s", flush=True)
    args = (work, work / "base", work / "records.jsonl", a.compile, out_dir, a.timeout)
    one = run(1, a.gpus, *args)
    result["1gpu"] = summary(one)
    for backend in a.backends:
        (out_dir / "train_multi_gpu.json").write_text(json.dumps(result, indent=2))  # kept if a later launch hangs
        result[backend] = summary(run(a.gpus, a.gpus, *args, backend), one)
    (out_dir / "train_multi_gpu.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
