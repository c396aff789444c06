"""Execution filtering in the real bubblewrap sandbox: records that pass their own asserts stay; failing,
timing-out, untested and code-less ones go; escape attempts have no effect outside the sandbox."""
import json


from magicoder_repro import execution_filter
from magicoder_repro.jsonl import read_jsonl, write_jsonl

SANDBOX = {"runtime": "bwrap", "memory_mb": 1024}
SETTINGS = {"languages": ["python"], "timeout_s": 5, "workers": 2, "keep_untested": False}


def fenced(code: str) -> str:
    return f"Here is the implementation:\n\n```python\n{code}\n```\n\nIt runs in linear time."


def record(index, solution, lang="python"):
    return {"lang": lang, "index": index, "seed": "", "problem": f"problem {index}", "solution": solution}


def test_only_records_passing_their_tests_go_on(tmp_path, listener):
    port, accepted = listener
    outside = tmp_path / "escaped.txt"
    escape = f"""
import os, socket, subprocess
def add(a, b):
    return a + b
for attempt in (lambda: open({str(outside)!r}, "w").write("out"),
                lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2),
                lambda: subprocess.run(["sh", "-c", "echo spawned > {tmp_path}/spawned.txt"], check=True)):
    try:
        attempt()
    except Exception:
        pass
assert add(2, 3) == 5
"""
    records = [
        record(0, fenced("def add(a, b):\n    return a + b\n\nassert add(1, 2) == 3")),
        record(1, fenced("def add(a, b):\n    return a - b\n\nassert add(1, 2) == 3")),
        record(2, fenced("def spin():\n    while True:\n        pass\n\nspin()\nassert True")),
        record(3, fenced(escape)),
        record(4, fenced("def add(a, b):\n    return a + b")),
        record(5, "Use a dictionary to count the words, then sort by count."),
        record(6, "```rust\nfn add(a: i32, b: i32) -> i32 { a + b }\n```", lang="rust"),
        record(7, fenced(f"open({str(outside)!r}, 'w').write('out')\nassert True")),
    ]
    write_jsonl(tmp_path / "in.jsonl", records)
    summary = execution_filter.run(tmp_path / "in.jsonl", SETTINGS, SANDBOX, tmp_path / "kept.jsonl",
                                   tmp_path / "removed.jsonl", tmp_path / "summary.json")
    assert [r["index"] for r in read_jsonl(tmp_path / "kept.jsonl")] == [0, 3, 6]
    outcomes = {r["index"]: r["execution"]["outcome"] for r in read_jsonl(tmp_path / "removed.jsonl")}
    assert outcomes == {1: "failed", 2: "timeout", 4: "untested", 5: "no_code", 7: "failed"}
    # The escape attempts were all blocked: nothing written outside, no connection, no process outside.
    assert not outside.exists() and not (tmp_path / "spawned.txt").exists() and accepted == []
    assert summary["outcomes"] == {"failed": 2, "no_code": 1, "passed": 2, "timeout": 1, "untested": 1}
    assert summary["checked"] == 7 and summary["not_checked"] == 1
    assert summary["pass_rate"] == round(2 / 5, 4)
    assert "AssertionError" in next(e["stderr"] for e in summary["examples"] if e["index"] == 1)
    assert json.loads((tmp_path / "summary.json").read_text())["kept"] == 3


def test_untested_records_can_be_kept():
    records = [record(0, fenced("print('hello')")), record(1, fenced("raise SystemExit(2)"))]
    kept, removed, outcomes = execution_filter.execution_filter(records, {**SETTINGS, "keep_untested": True}, SANDBOX)
    assert [r["index"] for r in kept] == [0]
    assert removed[0]["execution"]["outcome"] == "untested_failed" and sorted(outcomes) == ["untested", "untested_failed"]


def test_program_extraction():
    assert execution_filter.python_program("```py\na = 1\n```\ntext\n```python\nassert a == 1\n```") == "a = 1\n\n\nassert a == 1\n"
    assert execution_filter.python_program("x = 1\nassert x") == "x = 1\nassert x"  # unfenced but valid Python
    assert execution_filter.python_program("```js\nconsole.log(1)\n```") is None
