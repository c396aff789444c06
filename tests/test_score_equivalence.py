"""On honest samples the pipeline's verdicts are plain EvalPlus's: the same samples scored by both,
per task and per sample, base and plus, in one test run."""
import pytest

from eval_helpers import evalplus_cache  # noqa: F401
from magicoder_repro.evaluate import score as eval_score
from magicoder_repro.core.jsonl import write_jsonl
from verdict_samples import TASKS, honest_samples, pipeline, plain_evalplus, write_dataset

pytestmark = pytest.mark.slow
MIN_TIME_LIMIT = 1.0


@pytest.mark.parametrize("kind", ["humaneval", "mbpp"])
def test_pass_at_1_equals_plain_evalplus(tmp_path, evalplus_cache, kind):
    dataset = write_dataset(kind, tmp_path / f"{kind}-tasks.jsonl")
    samples = honest_samples(kind)
    path = tmp_path / "samples.jsonl"
    write_jsonl(path, samples)
    bench = {"benchmark": kind, "kind": kind, "dataset": dataset, "parallel": 2, "min_time_limit": MIN_TIME_LIMIT}
    ours = eval_score.score(bench, path, {"runtime": "bwrap"})
    theirs = plain_evalplus(kind, dataset, path, MIN_TIME_LIMIT)
    assert set(theirs) == set(TASKS[kind])
    mine = pipeline(ours)
    differ = [(t, s["variant"], a, b) for t in theirs
              for s, a, b in zip([s for s in samples if s["task_id"] == t], mine[t], theirs[t]) if a != b]
    assert not differ, f"(task, sample, pipeline, plain EvalPlus) where they differ: {differ}"
    assert mine == theirs
    # The samples are not all alike: some pass, some fail each test set.
    verdicts = [v for task in theirs.values() for v in task]
    assert {(True, True), (False, False)} <= set(verdicts)
    if kind == "humaneval":
        assert (True, False) in verdicts  # base_only and slow_plus pass the base tests only
    assert ours["self_check"]["ok"]
