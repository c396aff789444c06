"""Hostile HumanEval+ samples that attack the verdict (tests/adversarial/verdict_*.py, each of which
passes only if its attack works) score 0, and the honest samples scored in the same run keep their
verdicts. Run as root (as CI and the images run) and as an unprivileged user (from root: an account
made here, reaching an interpreter under a 0700 /root through the sandbox's staging mount)."""
import gzip
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from eval_helpers import HUMANEVAL, REPO, evalplus_cache, humaneval  # noqa: F401
from magicoder_repro.evaluate import benchmarks as eval_benchmarks, score as eval_score, sandbox

pytestmark = pytest.mark.slow
ATTACKS = sorted((REPO / "tests" / "adversarial").glob("verdict_*.py"), key=lambda p: p.stem != "verdict_patch_compare")
ATTACKS.insert(2, ATTACKS.pop(0))  # patching numpy.allclose needs a float task: HumanEval/2 (truncate_number)
USER = "magicoder-verdict"


def samples(cache: Path) -> list[dict]:
    """Task k gets its canonical solution, then attack k (its function bound to the task's name)."""
    rows = [json.loads(line) for line in gzip.open(REPO / HUMANEVAL, "rt")][:len(ATTACKS)]
    paths = [str(REPO / "data" / "**" / "*Plus*.jsonl*"), str(cache / "**"), str(cache / "evalplus"),
             str(Path.home() / ".cache" / "evalplus"), "/tmp/**/humaneval.jsonl"]
    out = []
    for row, attack in zip(rows, ATTACKS):
        code = attack.read_text().replace('["__PATHS__"]', repr(paths))
        code += f"\n\nENTRY_POINT = {row['entry_point']!r}\n{row['entry_point']} = _attack\n"
        out += [{"task_id": row["task_id"], "sample": 0, "solution": row["prompt"] + row["canonical_solution"]},
                {"task_id": row["task_id"], "sample": 1, "solution": code, "attack": attack.stem}]
    return out


def unprivileged() -> list[str]:
    """The prefix that runs a command as an ordinary user. Where the interpreter, the venv or the
    repository lie under a directory others cannot search (CI's /root, 0700), the command runs in a
    mount namespace in which that directory holds only those, read-only (the sandbox's own staging)."""
    try:
        user = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", USER], check=True, capture_output=True)
        user = pwd.getpwnam(USER)
    needed = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), REPO}
    prefix = [*sandbox._staging(sorted(needed)), "setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
              "--clear-groups", "--"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import evalplus, magicoder_repro"],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "scripts")})
    assert probe.returncode == 0, f"the normal user cannot run the scorer: {probe.stderr.strip()[-300:]}"
    return prefix


@pytest.mark.parametrize("as_user", ["root", "unprivileged"])
def test_hostile_samples_score_zero_and_honest_ones_keep_their_score(tmp_path_factory, request, evalplus_cache,
                                                                    as_user):
    if as_user == "root" and os.geteuid() != 0:
        pytest.skip("not running as root")
    work = tmp_path_factory.mktemp("adversarial")
    prefix, cache, box = [], evalplus_cache, {"runtime": "bwrap"}
    if as_user == "unprivileged" and os.geteuid() == 0:
        prefix = unprivileged()
        box["isolation"] = "weak"  # the user has no cgroup of its own here (v1 is root's): per-process limits
        work = Path(tempfile.mkdtemp(prefix="verdict-user-"))  # pytest's base directory is root's, 0700
        request.addfinalizer(lambda: shutil.rmtree(work, ignore_errors=True))
        work.chmod(0o777)
        cache = work / "xdg"
        shutil.copytree(evalplus_cache, cache)
        subprocess.run(["chown", "-R", USER, str(cache)], check=True)
    elif sandbox.cgroup_parents() is None:
        box["isolation"] = "weak"
    path = work / "samples.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in samples(cache)))
    out = work / "result.json"
    bench = humaneval(limit=len(ATTACKS), n=2, min_time_limit=1.0)
    proc = subprocess.run([*prefix, sys.executable, "-m", "magicoder_repro.evaluate.score", "--benchmark", json.dumps(bench),
                           "--sandbox", json.dumps(box), "--samples", str(path), "--out", str(out)],
                          capture_output=True, text=True, cwd=work,
                          env={**os.environ, "PYTHONPATH": str(REPO / "scripts"), "XDG_CACHE_HOME": str(cache)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    verdicts = {attack.stem: list(zip(result["per_task"][t]["base"], result["per_task"][t]["plus"]))
                for attack, t in zip(ATTACKS, result["per_task"])}
    honest_lost = [a for a, (honest, _) in verdicts.items() if honest != (True, True)]
    assert not honest_lost, f"honest samples that lost their pass next to an attack: {honest_lost}"
    scored = [a for a, (_, hostile) in verdicts.items() if hostile != (False, False)]
    assert result["self_check"]["ok"]
    assert not scored, f"attacks that scored: {scored}"
    assert result["pass@1"] == {"base": pytest.approx(0.5), "plus": pytest.approx(0.5)}


@pytest.mark.parametrize("lang, exit_early", [("js", "  process.exit(0);")])  # C++: test_execution_token.py
def test_multipl_e_programs_that_exit_0_during_their_tests_score_0(tmp_path, lang, exit_early):
    bench = {"benchmark": f"multipl-e-{lang}", "kind": "multipl-e", "max_new_tokens": 64, "parallel": 2,
             "dataset": str(REPO / "tests" / "fixtures" / "multiple" / f"humaneval-{lang}.jsonl"), "timeout_s": 60}
    task = eval_benchmarks.load_tasks(bench)[0]
    good = json.loads((REPO / "tests" / "fixtures" / "multiple" / "completions.json").read_text())[lang]["good"]
    rows = [{"task_id": task["task_id"], "solution": eval_benchmarks.postprocess(bench, task, completion + task["stop"][0] + "garbage(")}
            for completion in (good, exit_early)]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = eval_score.score(bench, path, {"runtime": "bwrap"})
    assert result["per_task"] == {task["task_id"]: [True, False]} and result["self_check"]["ok"]


def test_ds1000_programs_that_exit_0_before_their_tests_score_0(tmp_path):
    bench = {"benchmark": "ds1000", "kind": "ds1000", "dataset": str(REPO / "tests" / "fixtures" / "ds1000" / "ds1000.jsonl"),
             "max_new_tokens": 64, "parallel": 2}
    good = json.loads((REPO / "tests" / "fixtures" / "ds1000" / "completions.json").read_text())
    rows = [{"task_id": t, "solution": s} for t in ("0", "1")
            for s in (good[t]["good"].split("\n</code>")[0], "import os\nos._exit(0)")]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = eval_score.score(bench, path, {"runtime": "bwrap"})
    assert result["per_task"] == {"0": [True, False], "1": [True, False]} and result["self_check"]["ok"]
