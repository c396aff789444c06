"""Teacher throughput: the original's one-request-at-a-time loop vs this pipeline, side by side.

Both talk to the same local OpenAI-compatible server (tests/fault_server.py, in its own process) that
answers every request after a fixed latency, standing in for a remote API whose latency dominates.
The original loop is a synchronous `openai.OpenAI` client asking once per seed; the pipeline is
`magicoder_repro.data.generate` (async client, `--concurrency` in flight, every answer fsynced to the cache).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generation_throughput.py
"""
import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "scripts"), str(REPO / "tests")]

from fault_server import FaultServer  # noqa: E402
from test_generate import TEMPLATE, teacher_config, write_seeds  # noqa: E402

from magicoder_repro.data.generate import generate  # noqa: E402
from magicoder_repro.core.jsonl import read_jsonl  # noqa: E402
from magicoder_repro.data.requests import build_request, load_template  # noqa: E402


def serve(latency_s, port_queue):
    with FaultServer(latency_s=latency_s) as server:
        port_queue.put(server.port)
        while True:
            time.sleep(3600)


def original_loop(seeds_path, teacher, out_path) -> float:
    """The original generator's shape: for each seed, one blocking request, then one output line."""
    import openai

    client = openai.OpenAI(api_key="bench", base_url=teacher["base_url"], max_retries=5)
    template = load_template(TEMPLATE)
    start = time.perf_counter()
    with open(out_path, "w") as f:
        for record in read_jsonl(seeds_path):
            request = build_request(record["seed"], record["index"], teacher, template)
            response = client.chat.completions.create(**request)
            f.write(json.dumps({"index": record["index"], "response": response.model_dump(mode="json")}) + "\n")
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latency-ms", type=float, default=200)
    p.add_argument("--sequential-requests", type=int, default=25)
    p.add_argument("--pipeline-requests", type=int, default=1280)
    p.add_argument("--concurrency", type=int, default=64)
    args = p.parse_args()

    ports = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(args.latency_ms / 1000, ports), daemon=True)
    server.start()
    base_url = f"http://127.0.0.1:{ports.get(timeout=30)}/v1"
    teacher = teacher_config(base_url=base_url, api_key_env="BENCH_KEY")
    os.environ["BENCH_KEY"] = "bench"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        seq_seeds = write_seeds(tmp / "seq.jsonl", args.sequential_requests)
        seq_s = original_loop(seq_seeds, teacher, tmp / "seq.out.jsonl")

        par_seeds = write_seeds(tmp / "par.jsonl", args.pipeline_requests)
        runtime = {"concurrency": args.concurrency, "max_retries": 8, "timeout_s": 60}
        start, cpu_start = time.perf_counter(), time.process_time()
        generate(par_seeds, teacher, TEMPLATE, tmp / "cache", tmp / "par.responses.jsonl", tmp / "par.ledger.json", runtime)
        par_s, par_cpu = time.perf_counter() - start, time.process_time() - cpu_start
        assert len(read_jsonl(tmp / "par.responses.jsonl")) == args.pipeline_requests
    server.terminate()

    seq_rate, par_rate = args.sequential_requests / seq_s, args.pipeline_requests / par_s
    print(f"server latency per request: {args.latency_ms:.0f} ms")
    print(f"original loop (1 in flight):        {args.sequential_requests:5d} requests in {seq_s:7.2f} s = {seq_rate:7.2f} requests/s")
    print(f"this pipeline ({args.concurrency} in flight, cached): {args.pipeline_requests:5d} requests in {par_s:7.2f} s = {par_rate:7.2f} requests/s")
    print(f"speed-up: {par_rate / seq_rate:.1f}x (ideal {args.concurrency}x)")
    # On a shared machine the pipeline is CPU-starved long before it is latency-bound: this figure
    # does not depend on the load, and 1000 / it is the request rate one free core could sustain.
    cpu_ms = 1000 * par_cpu / args.pipeline_requests
    print(f"pipeline CPU per request: {cpu_ms:.2f} ms (one free core: ~{1000 / cpu_ms:.0f} requests/s)")


if __name__ == "__main__":
    main()
