"""EvalPlus verdicts computed where the code under test cannot reach them.

EvalPlus 0.3.1 compares a sample's return values with the expected outputs inside the sample's own
process, and `evaluate` writes the verdicts to a file in the samples' directory: an `__eq__` that
always says True, a walk up the stack to the expected outputs, a patched `numpy.allclose`, or simply
overwriting that file all pass. Here the roles are split:
  child (sandboxed, evalplus_child.py)  gets the sample's code and the task's inputs, runs the function
      on each input as EvalPlus does, and reports the return values as plain data (plain_data.py);
  parent (this module, the scorer)      holds the expected outputs (EvalPlus's own `get_groundtruth`
      cache, never shown to the child), rebuilds the reported values as its own objects and applies
      EvalPlus's comparison (`unsafe_execute`'s, with its special oracles, `is_floats` and atol rules).
A value larger than 64 KiB as plain data travels as a digest of its normal form (equal digests, equal
values; plain_data.digest, at C speed for exact built-in types), which decides the inputs where
EvalPlus compares with plain `==`; the expected output's digest is computed here, once per task. A test set passes only if
every one of its inputs was answered and matched: a sample that exits early,
kills its sandbox or prints forged lines gains nothing. Time limits are EvalPlus's:
max(min_time_limit, 4 x the canonical solution's time) per input, and min(60, their sum) + 2 s per set.
"""
import json
import os
import pickle
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from evalplus.config import DEFAULT_GT_TIME_LIMIT_FACTOR
from evalplus.eval import FAIL, PASS, TIMEOUT, is_floats
from evalplus.eval import utils as evalplus_utils
from evalplus.eval._special_oracle import (MBPP_OUTPUT_NOT_NONE_TASKS, MBPP_OUTPUT_SET_EQ_TASKS,
                                           _digit_distance_nums, _poly, _surface_Area)

from magicoder_repro.evaluate import plain_data, sandbox

HERE = Path(__file__).resolve().parent
# What the child's directory holds besides the job: the harness, the decoder, EvalPlus's guard (stdlib only).
CHILD_FILES = {"evalplus_child.py": HERE / "evalplus_child.py", "plain_data.py": HERE / "plain_data.py",
               "evalplus_guard.py": Path(evalplus_utils.__file__)}
SET_TIMEOUT_CAP = 60     # EvalPlus's EVALPLUS_TIMEOUT_PER_TASK default
SET_TIMEOUT_SLACK = 2    # its +1 on the process timeout and +1 on the join
START_SLACK = 10         # the sandbox and the interpreter starting, on a busy machine
# The child starts without `site` (-S: its .pth files cost about half of the interpreter's start) and
# puts this interpreter's package directories on its path itself, so a sample imports what it would here.
SITE_PACKAGES = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
SKIP = "skip"            # an input EvalPlus neither fails nor counts as passed (HumanEval/32's oracle)


def groundtruth(kind: str, data_file: Path, md5: str) -> dict:
    """EvalPlus's expected outputs and canonical run times for the tasks in data_file, computed and cached
    by EvalPlus itself (get_groundtruth, in a process of its own: EvalPlus reads the task file's path from
    the environment when imported) under $XDG_CACHE_HOME/evalplus, a place the sandbox never shows."""
    var = "HUMANEVAL_OVERRIDE_PATH" if kind == "humaneval" else "MBPP_OVERRIDE_PATH"
    subprocess.run([sys.executable, "-c", GROUNDTRUTH, kind], env={**os.environ, var: str(data_file)},
                   check=True, stdout=subprocess.DEVNULL)
    from appdirs import user_cache_dir

    with open(Path(user_cache_dir("evalplus")) / f"{md5}.pkl", "rb") as f:
        return pickle.load(f)


GROUNDTRUTH = """
import sys
from evalplus.evaluate import get_groundtruth
from evalplus.data import get_human_eval_plus, get_human_eval_plus_hash, get_mbpp_plus, get_mbpp_plus_hash
from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS
if sys.argv[1] == "humaneval":
    get_groundtruth(get_human_eval_plus(), get_human_eval_plus_hash(), [])
else:
    get_groundtruth(get_mbpp_plus(), get_mbpp_plus_hash(), MBPP_OUTPUT_NOT_NONE_TASKS)
"""


def problems_of(kind: str, rows: list[dict]) -> dict[str, dict]:
    """Tasks as EvalPlus's get_*_plus gives them (MBPP's inputs deserialised into tuples and sets)."""
    if kind == "mbpp":
        from evalplus.data.mbpp import mbpp_deserialize_inputs

        rows = [{**r, "base_input": mbpp_deserialize_inputs(r["task_id"], r["base_input"]),
                 "plus_input": mbpp_deserialize_inputs(r["task_id"], r["plus_input"])} for r in rows]
    return {r["task_id"]: r for r in rows}


def compare(dataset: str, entry_point: str, inp, out, exp, atol: float) -> tuple[str, float]:
    """EvalPlus 0.3.1 unsafe_execute's check of one output (special oracles included), on values the
    scorer built; returns PASS, FAIL or SKIP and the atol the next input is checked with (EvalPlus
    raises it to 1e-6 for good once a float output is seen)."""
    try:
        exact_match = out == exp
        if dataset == "mbpp":
            if entry_point == "are_equivalent":  # Mbpp/164
                exact_match = True
            elif entry_point == "sum_div":  # Mbpp/295
                exact_match = exact_match or out == 0
            elif entry_point == "surface_Area":  # Mbpp/581
                exact_match = exact_match or abs(out - _surface_Area(*inp)) <= atol
            elif entry_point == "digit_distance_nums":  # Mbpp/558
                exact_match = exact_match or out == _digit_distance_nums(*inp)
            elif entry_point in MBPP_OUTPUT_SET_EQ_TASKS:
                exact_match = set(out) == set(exp)
            elif entry_point in MBPP_OUTPUT_NOT_NONE_TASKS:
                exact_match = out == exp if isinstance(out, bool) else exp == (out is not None)
        if dataset == "humaneval" and entry_point == "find_zero":
            return (SKIP if abs(_poly(*inp, out)) <= atol else FAIL), atol
        if atol == 0 and is_floats(exp):
            atol = 1e-6
        if not exact_match and atol != 0:
            ok = type(out) == type(exp) and (not isinstance(exp, (list, tuple)) or len(out) == len(exp)) \
                and np.allclose(out, exp, rtol=1e-07, atol=atol)
        else:
            ok = exact_match
        return (PASS if ok else FAIL), atol
    except Exception:
        return FAIL, atol


def exact_only(dataset: str, entry_point: str, exp, atol: float) -> bool:
    """Whether EvalPlus's verdict for this output is plain `out == exp` (no oracle, no tolerance), which
    a digest of the output decides."""
    oracles = {"are_equivalent", "sum_div", "surface_Area", "digit_distance_nums",
               *MBPP_OUTPUT_SET_EQ_TASKS, *MBPP_OUTPUT_NOT_NONE_TASKS} if dataset == "mbpp" else {"find_zero"}
    return entry_point not in oracles and atol == 0 and not is_floats(exp)


def reports(stdout: str) -> dict:
    """The child's report lines by (set, index) or ("exec", set); the first line for a key counts.
    Lines that do not parse are ignored: whatever the sample prints is only ever its own claim."""
    found = {}
    for line in stdout.splitlines():
        try:
            record = json.loads(line)
            key = (record[0], record[1])
        except (ValueError, TypeError, IndexError, KeyError, RecursionError):
            continue
        if isinstance(record, list) and all(isinstance(k, (str, int)) for k in key):
            found.setdefault(key, record)
    return found


class ExpectedDigests:
    """Digests of a task's large expected outputs ((set, index) -> sha256, None where there is none),
    each computed once for all of the task's samples, which score in parallel threads."""

    def __init__(self, expected: dict):
        self.expected, self.known, self.lock = expected, {}, threading.Lock()

    def __call__(self, name: str, i: int) -> str | None:
        with self.lock:
            if (name, i) not in self.known:
                try:
                    self.known[name, i] = plain_data.digest(self.expected[name][i])
                except plain_data.NoNormalForm:
                    self.known[name, i] = None
            return self.known[name, i]


def set_status(dataset: str, problem: dict, name: str, expected: list, found: dict, digests: ExpectedDigests) -> str:
    """untrusted_check's status for one test set, from the child's reports: a fail at the first input
    that raised or did not match, a timeout where the reports stop short, a pass if all inputs matched."""
    if ("exec", name) in found:
        return FAIL
    atol, passed = problem["atol"], 0
    for i, inp in enumerate(problem[f"{name}_input"]):
        record = found.get((name, i))
        if record is None:
            return TIMEOUT
        if len(record) != 4 or record[2] not in ("ok", "digest"):
            return FAIL
        if record[2] == "digest":  # a large value, equal to the expected output or not: plain == decides
            if not (exact_only(dataset, problem["entry_point"], expected[i], atol)
                    and record[3] is not None and digests(name, i) == record[3]):
                return FAIL
            passed += 1
            continue
        try:
            out = plain_data.decode(record[3])
        except Exception:
            return FAIL
        verdict, atol = compare(dataset, problem["entry_point"], inp, out, expected[i], atol)
        if verdict == FAIL:
            return FAIL
        passed += verdict == PASS
    return PASS if passed == len(expected) else FAIL


def time_limits(ref_times: list[float], min_time_limit: float) -> list[float]:
    return [max(min_time_limit, DEFAULT_GT_TIME_LIMIT_FACTOR * t) for t in ref_times]


def task_job(dataset: str, problem: dict, oracle: dict, min_time_limit: float) -> dict:
    """What the child gets for a task: inputs and time limits, not the expected outputs."""
    sets = []
    for name in ("base", "plus"):
        limits = time_limits(oracle[f"{name}_time"], min_time_limit)
        sets.append({"name": name, "inputs": [plain_data.encode(x) for x in problem[f"{name}_input"]],
                     "time_limits": limits, "timeout": min(SET_TIMEOUT_CAP, sum(limits)) + SET_TIMEOUT_SLACK})
    return {"dataset": dataset, "entry_point": problem["entry_point"], "sets": sets, "site_packages": SITE_PACKAGES}


def check_samples(dataset: str, problems: dict, expected: dict, samples: list[tuple[str, str]], box: dict,
                  workdir: Path, parallel: int, min_time_limit: float) -> list[dict]:
    """{"base": status, "plus": status} for each (task_id, code), each sample in a sandbox of its own
    that sees only its task's directory (read-only: inputs and the harness) and a fresh work directory."""
    tasks = {}
    for task_id in dict.fromkeys(t for t, _ in samples):
        job = task_job(dataset, problems[task_id], expected[task_id], min_time_limit)
        tasks[task_id] = (workdir / f"task-{len(tasks)}", job)
        tasks[task_id][0].mkdir()
        (tasks[task_id][0] / "job.json").write_text(json.dumps(job))
        for name, source in CHILD_FILES.items():
            shutil.copyfile(source, tasks[task_id][0] / name)

    def one(i: int) -> dict:
        task_id, code = samples[i]
        task_dir, job = tasks[task_id]
        run_dir = workdir / f"sample-{i}"
        run_dir.mkdir()
        (run_dir / "solution.py").write_text(code)
        timeout = sum(s["timeout"] for s in job["sets"]) + START_SLACK
        # One report line per input, each at most a digest-sized value: an honest child's whole output fits.
        inputs = sum(len(s["inputs"]) for s in job["sets"])
        bounded = {**box, "output_kb": max(box.get("output_kb", 0), (inputs + 16) * plain_data.DIGEST_ABOVE // 1024)}
        proc = sandbox.run([sys.executable, "-S", str(task_dir / "evalplus_child.py"), str(task_dir)], run_dir, bounded,
                           timeout=timeout, ro_binds=[task_dir])
        shutil.rmtree(run_dir, ignore_errors=True)
        found = reports(proc.stdout)
        return {name: set_status(dataset, problems[task_id], name, expected[task_id][name], found, digests[task_id])
                for name in ("base", "plus")}

    # A sandbox that cannot start would turn every sample into a timeout: one trial start says so instead.
    first_task, trial_dir = next(iter(tasks.values()))[0], workdir / "trial"
    trial_dir.mkdir()
    trial = sandbox.run([sys.executable, "-c", "pass"], trial_dir, box, timeout=START_SLACK, ro_binds=[first_task])
    if trial.returncode != 0:
        last = (trial.stderr.strip().splitlines() or ["no output"])[-1]
        raise sandbox.SandboxUnavailable(f"the sandbox cannot start a program here (exit {trial.returncode}): {last}")
    digests = {task_id: ExpectedDigests(expected[task_id]) for task_id in tasks}
    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(one, range(len(samples))))
