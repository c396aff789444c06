"""The open-teacher server lifecycle with a real `transformers serve` on a tiny model: it starts, is
probed until ready, answers the wrapped command, and is gone afterwards on every way out."""
import json
import re
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from magicoder_repro.plus import serve_teacher

from magicoder_repro.train import tiny_model
from magicoder_repro.core.jsonl import read_jsonl, write_jsonl

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "scripts")}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("teacher")
    os.environ.setdefault("HF_HUB_CACHE", str(root / "hf-cache"))
    Path(os.environ["HF_HUB_CACHE"]).mkdir(parents=True, exist_ok=True)
    texts = tiny_model.corpus_texts(sorted((REPO / "data/demo/corpus").glob("*.jsonl")))
    return tiny_model.build(str(root / "tiny"), texts, vocab_size=512, hidden_size=32, layers=1, heads=2, max_positions=256)


def serve_json(model, **extra) -> str:
    return json.dumps({"engine": "transformers", "model": model, "gpus": 0, "startup_timeout_s": 120, **extra})


def wrapper(model, *command, serve=None, **kw):
    args = [sys.executable, "-m", "magicoder_repro.plus.serve_teacher", "--serve", serve or serve_json(model),
            "--served-name", model, "--api-key-env", "TEACHER_TEST_KEY", "--", *command]
    return subprocess.Popen(args, env={**ENV, "HF_HUB_CACHE": os.environ["HF_HUB_CACHE"]}, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, **kw)


def server_pid(stderr_text: str) -> int:
    line = next(l for l in stderr_text.splitlines() if "ready at" in l)
    return int(line.rsplit("pid ", 1)[1].rstrip(")"))


def gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)  # the server leads its own process group: any member left alive answers
    except ProcessLookupError:
        return True
    return False


def test_generation_runs_against_the_served_teacher_which_is_stopped_after(model, tmp_path):
    """The pipeline's own generation step, wrapped as the generate rule wraps it with teacher.serve set."""
    seeds = [{"lang": "python", "index": i, "raw_index": i, "seed": f"def f{i}(x):\n    return x + {i}\n"} for i in range(2)]
    write_jsonl(tmp_path / "seeds.jsonl", seeds)
    teacher = {"backend": "openai", "model": model, "base_url": None, "system_prompt": "You write problems.",
               "temperature": 0.0, "seed_offset": None, "max_tokens": 8, "token_counter": None}
    generate = [sys.executable, "-m", "magicoder_repro.data.generate", "--seeds", str(tmp_path / "seeds.jsonl"),
                "--teacher", json.dumps(teacher), "--template", str(REPO / "prompts/oss_instruct.txt"),
                "--cache", str(tmp_path / "cache"), "--api-key-env", "TEACHER_TEST_KEY",
                "--responses", str(tmp_path / "responses.jsonl"), "--ledger", str(tmp_path / "ledger.json")]
    # The wrapped command's exit code comes back: generation succeeds, then the shell exits 3.
    script = 'set -e; "$@"; printf %s "$OPENAI_BASE_URL" > base_url.txt; exit 3'
    proc = wrapper(model, "sh", "-c", script, "sh", *generate, cwd=tmp_path)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err[-3000:]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", (tmp_path / "base_url.txt").read_text())
    responses = read_jsonl(tmp_path / "responses.jsonl")
    assert len(responses) == 2 and all(r["index"] in (0, 1) for r in responses)
    assert gone(server_pid(err))
    assert "[teacher-server]" in err  # the server's own log went to the job's log


def test_sigterm_to_the_job_stops_server_and_command(model, tmp_path):
    marker = tmp_path / "command.pid"
    proc = wrapper(model, "sh", "-c", f"echo $$ > {marker}; exec sleep 300")
    deadline = time.monotonic() + 180
    while not marker.exists() or not marker.read_text().strip():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-3000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert gone(server_pid(err))
    command_pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(command_pid, 0)


def test_server_that_fails_to_start_reports_its_log_tail(model, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{ this is not json")
    proc = wrapper(str(broken), "true", serve=serve_json(str(broken)))
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 1
    assert "exited with code" in err and "last lines of its log" in err
    tail = err.split("last lines of its log", 1)[1]
    assert "config.json" in tail or "JSON" in tail or "Error" in tail  # the server's own complaint is quoted


def test_startup_timeout_kills_the_server(model):
    settings = json.loads(serve_json(model, startup_timeout_s=1))
    with pytest.raises(serve_teacher.ServerFailed, match=r"not ready after 1 s") as info:
        with serve_teacher.serving(settings, model):
            pass
    assert " serve " in str(info.value) and "last lines of its log" in str(info.value)
    # No server may survive: the port it was given refuses connections again.
    port = int(str(info.value).split("--port ", 1)[1].split()[0])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_config_errors_are_clear(model):
    with pytest.raises(ValueError, match="set teacher.model to"):
        serve_teacher.server_command({"engine": "transformers", "model": model}, "gpt-4", 8000)
    with pytest.raises(ValueError, match="vllm or transformers"):
        serve_teacher.server_command({"engine": "tgi", "model": model}, model, 8000)
    cmd = serve_teacher.server_command({"engine": "vllm", "model": "org/m", "gpus": 4, "extra_args": ["--seed", "0"]}, "m", 9000)
    assert Path(cmd[0]).name == "vllm" and cmd[1:3] == ["serve", "org/m"] and "--tensor-parallel-size" in cmd and cmd[-2:] == ["--seed", "0"]
    assert cmd[cmd.index("--served-model-name") + 1] == "m"
    on_cpu = serve_teacher.server_command({"engine": "transformers", "model": model, "gpus": 0}, model, 8000)
    on_gpu = serve_teacher.server_command({"engine": "transformers", "model": model, "gpus": 1}, model, 8000)
    assert "--continuous-batching" not in on_cpu and on_cpu[on_cpu.index("--device") + 1] == "cpu"
    assert "--continuous-batching" in on_gpu and on_gpu[on_gpu.index("--device") + 1] == "auto"
