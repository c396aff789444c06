"""Execution filtering in the real bubblewrap sandbox, with each language's real toolchain: records that
pass their tests (their own asserts, or tests the teacher wrote) stay; failing, timing-out, untested and
code-less ones go; escape attempts have no effect outside the sandbox; languages that cannot be run
pass through as not_checked, with the reason."""
import json
import shutil

import pytest

from magicoder_repro.plus import execution_filter
from magicoder_repro.core.jsonl import read_jsonl, write_jsonl

SANDBOX = {"runtime": "bwrap", "memory_mb": 1024}
SETTINGS = {"tests": "solution", "languages": ["python"], "timeout_s": 5, "workers": 2, "keep_untested": False}
TEACHER = {**SETTINGS, "tests": "teacher", "languages": ["python", "cpp", "java", "php", "rust", "shell", "swift",
                                                        "typescript", "csharp"],
           "timeout_s": 20}


def fenced(code: str, lang="python") -> str:
    return f"Here is the implementation:\n\n```{lang}\n{code}\n```\n\nIt runs in linear time."


def record(index, solution, lang="python"):
    return {"lang": lang, "index": index, "raw_index": index, "seed": "", "problem": f"problem {index}",
            "solution": solution}


def teacher_answers(path, lang_answers: dict[int, tuple[str, str]]):
    """A teacher_tests output file: per record index, (language, the teacher's answer text)."""
    write_jsonl(path, [
        {"lang": lang, "index": i, "raw_index": i, "seed": "", "request_key": f"k{i}",
         "response": {"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}}
        for i, (lang, text) in lang_answers.items()])
    return path


def run_filter(tmp_path, records, settings, tests=None):
    write_jsonl(tmp_path / "in.jsonl", records)
    summary = execution_filter.run(tmp_path / "in.jsonl", settings, SANDBOX, tmp_path / "kept.jsonl",
                                   tmp_path / "removed.jsonl", tmp_path / "summary.json", tests)
    kept = [r["index"] for r in read_jsonl(tmp_path / "kept.jsonl")]
    removed = {r["index"]: r["execution"] for r in read_jsonl(tmp_path / "removed.jsonl")}
    return summary, kept, removed


def test_only_records_passing_their_own_asserts_go_on(tmp_path, listener):
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
        record(6, fenced("fn add(a: i32, b: i32) -> i32 { a + b }", "rust"), lang="rust"),
        record(7, fenced(f"open({str(outside)!r}, 'w').write('out')\nassert True")),
    ]
    summary, kept, outcomes = run_filter(tmp_path, records, SETTINGS)
    assert kept == [0, 3, 6]
    assert {i: o["outcome"] for i, o in outcomes.items()} == {1: "failed", 2: "timeout", 4: "untested", 5: "no_code", 7: "failed"}
    # The escape attempts were all blocked: nothing written outside, no connection, no process outside.
    assert not outside.exists() and not (tmp_path / "spawned.txt").exists() and accepted == []
    assert summary["outcomes"] == {"failed": 2, "no_code": 1, "passed": 2, "timeout": 1, "untested": 1}
    assert summary["checked"] == 7 and summary["not_checked"] == 1
    assert summary["not_checked_reasons"] == {"not in curation.execution_filter.languages": 1}
    assert summary["pass_rate"] == round(2 / 5, 4)
    assert "AssertionError" in next(e["stderr"] for e in summary["examples"] if e["index"] == 1)
    # Outside paths are read-only or, under /tmp, absent; the message names the program without its work directory.
    assert "escaped.txt" in outcomes[7]["stderr"] and 'File "prog.py"' in outcomes[7]["stderr"]
    assert json.loads((tmp_path / "summary.json").read_text())["kept"] == 3


def test_untested_records_can_be_kept():
    records = [record(0, fenced("print('hello')")), record(1, fenced("raise SystemExit(2)"))]
    kept, removed, outcomes, _ = execution_filter.execution_filter(records, {**SETTINGS, "keep_untested": True}, SANDBOX)
    assert [r["index"] for r in kept] == [0]
    assert removed[0]["execution"]["outcome"] == "untested_failed" and sorted(outcomes) == ["untested", "untested_failed"]


def test_teacher_tests_pass_fail_time_out_and_cannot_escape(tmp_path, listener):
    port, accepted = listener
    add = fenced("import sys\n\ndef add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n    sys.exit(2)")
    records = [record(i, add) for i in range(6)] + [record(6, fenced("def add(a, b):\n    return a - b"))]
    tests = teacher_answers(tmp_path / "tests.jsonl", {
        # The solution's main block would exit 2: under tests it is skipped.
        0: ("python", fenced("assert add(2, 2) == 4\nassert add(-1, 1) == 0")),
        1: ("python", "```\nassert add(2, 2) == 5\n```"),
        2: ("python", fenced("while True:\n    pass")),
        3: ("python", fenced(f"open({str(tmp_path / 'escaped.txt')!r}, 'w').write('out')\nassert add(1, 1) == 2")),
        4: ("python", fenced(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)")),
        5: ("python", fenced(f"import subprocess\n"
                             f"subprocess.run(['sh', '-c', 'echo spawned > {tmp_path}/spawned.txt'], check=True)")),
        6: ("python", "I could not write tests for this one."),
    })
    summary, kept, removed = run_filter(tmp_path, records, {**SETTINGS, "tests": "teacher", "timeout_s": 3}, tests)
    assert kept == [0]
    assert {i: o["outcome"] for i, o in removed.items()} == {1: "failed", 2: "timeout", 3: "failed", 4: "failed",
                                                             5: "failed", 6: "untested"}
    assert "assert add(2, 2) == 5" in removed[1]["tests"] and "AssertionError" in removed[1]["stderr"]
    assert "escaped.txt" in removed[3]["stderr"] and "CalledProcessError" in removed[5]["stderr"]
    assert "Connection refused" in removed[4]["stderr"] or "Network is unreachable" in removed[4]["stderr"]
    # Nothing got out: no file written outside, no connection reached the host.
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "spawned.txt").exists() and accepted == []
    assert summary["settings"]["tests"] == "teacher" and summary["pass_rate"] == round(1 / 6, 4)


def test_both_takes_the_solutions_asserts_where_the_teacher_wrote_none(tmp_path):
    own = record(0, fenced("def add(a, b):\n    return a + b\n\nassert add(1, 2) == 3"))
    tests = teacher_answers(tmp_path / "tests.jsonl", {0: ("python", "No tests needed.")})
    for mode, outcome in (("teacher", "untested"), ("both", "passed")):
        summary, _, _ = run_filter(tmp_path, [own], {**SETTINGS, "tests": mode}, tests)
        assert summary["outcomes"] == {outcome: 1}, mode


def test_compiled_and_script_languages_run_with_the_teachers_tests(tmp_path):
    cpp = fenced("#include <string>\nint twice(int x) { return 2 * x; }\nint main() { return 3; }", "cpp")
    java = fenced("import java.util.List;\n\npublic class Totals {\n    public static int sum(List<Integer> xs) {\n"
                  "        return xs.stream().mapToInt(Integer::intValue).sum();\n    }\n}", "java")
    rust = fenced("use std::collections::HashMap;\n\npub fn counts(s: &str) -> HashMap<char, usize> {\n"
                  "    let mut m = HashMap::new();\n    for c in s.chars() { *m.entry(c).or_insert(0) += 1; }\n    m\n}", "rust")
    php = fenced("<?php\nfunction greet(string $name): string { return \"Hello, $name\"; }", "php")
    shell = fenced('#!/usr/bin/env bash\nset -eu\necho "$(( $1 + $2 ))"', "bash")
    records = [record(0, cpp, "cpp"), record(1, cpp, "cpp"), record(2, java, "java"), record(3, java, "java"),
               record(4, rust, "rust"), record(5, rust, "rust"), record(6, php, "php"), record(7, php, "php"),
               record(8, shell, "shell"), record(9, shell, "shell")]
    tests = teacher_answers(tmp_path / "tests.jsonl", {
        # The solution's own main is renamed: the tests' main runs.
        0: ("cpp", fenced("#include <cassert>\nint main() { assert(twice(21) == 42); }", "cpp")),
        1: ("cpp", fenced("#include <cassert>\nint main() { assert(twice(2) == 5); }", "cpp")),
        # Imports go to the top of the one file; Problem's main runs the tests' class.
        2: ("java", fenced("import java.util.List;\n\npublic class TotalsTest {\n    public static void main(String[] a) {\n"
                           "        assert Totals.sum(List.of(1, 2, 3)) == 6;\n    }\n}", "java")),
        3: ("java", fenced("import java.util.List;\n\npublic class TotalsTest {\n    public static void main(String[] a) {\n"
                           "        assert Totals.sum(List.of(1, 2)) == 4 : \"sum\";\n    }\n}", "java")),
        # The repeated `use` is dropped (Rust rejects a name imported twice).
        4: ("rust", fenced("use std::collections::HashMap;\n\nfn main() {\n    let m: HashMap<char, usize> = counts(\"abca\");\n"
                           "    assert_eq!(m[&'a'], 2);\n}", "rust")),
        5: ("rust", fenced("fn main() {\n    assert_eq!(counts(\"ab\").len(), 3);\n}", "rust")),
        6: ("php", fenced("<?php\nassert(greet('Ada') === 'Hello, Ada');", "php")),
        7: ("php", fenced("<?php\nassert(greet('Ada') === 'Hi, Ada');", "php")),
        8: ("shell", fenced('[ "$(bash solution.sh 2 3)" = 5 ] || exit 1', "bash")),
        9: ("shell", fenced('[ "$(bash solution.sh 2 3)" = 6 ] || exit 1', "bash")),
    })
    summary, kept, removed = run_filter(tmp_path, records, TEACHER, tests)
    assert kept == [0, 2, 4, 6, 8]
    assert {i: o["outcome"] for i, o in removed.items()} == {i: "failed" for i in (1, 3, 5, 7, 9)}
    assert "Assertion `twice(2) == 5' failed" in removed[1]["stderr"]
    assert "java.lang.AssertionError: sum" in removed[3]["stderr"]  # asserts are on (java -ea)
    assert "panicked" in removed[5]["stderr"]
    assert "AssertionError" in removed[7]["stderr"]  # PHP's assert() is on (zend.assertions=1)
    assert summary["pass_rate"] == 0.5 and summary["not_checked"] == 0


def test_the_build_has_its_own_time_limit(tmp_path):
    """timeout_s limits the program's run, compile_timeout_s its build. Instantiating std::regex takes g++
    seconds (3.7 s on this machine), so a 1 s run limit that also covered the build would time it out."""
    solution = fenced("#include <cassert>\n#include <regex>\n"
                      "bool ok(const char* s) { return std::regex_match(s, std::regex(\"a+b\")); }\n"
                      "int main() { assert(ok(\"aab\")); }", "cpp")
    cpp = {**SETTINGS, "languages": ["cpp"]}
    summary, kept, _ = run_filter(tmp_path / "slow-build", [record(0, solution, "cpp")],
                                  {**cpp, "timeout_s": 1, "compile_timeout_s": 60})
    assert kept == [0] and summary["outcomes"] == {"passed": 1}
    summary, _, removed = run_filter(tmp_path / "build-limit", [record(0, solution, "cpp")],
                                     {**cpp, "timeout_s": 60, "compile_timeout_s": 0.05})
    assert removed[0]["outcome"] == "timeout" and summary["outcomes"] == {"timeout": 1}


def test_typescript_and_csharp_run_with_the_teachers_tests(tmp_path):
    ts = fenced('import { EOL } from "os";\n\nexport function lines(text: string): string[] {\n'
                '  return text.split(EOL).filter((l) => l.length > 0);\n}', "typescript")
    cs = fenced("using System;\nusing System.Linq;\n\npublic static class Text\n{\n"
                "    public static int Words(string s) => s.Split(' ').Count(w => w.Length > 0);\n"
                "    static void Main() { Environment.Exit(3); }\n}", "csharp")
    records = [record(i, ts, "typescript") for i in range(3)] + [record(i, cs, "csharp") for i in range(3, 7)]
    cs_tests = "using System;\nusing System.Diagnostics;\n\nclass TextTests\n{\n    static void Main()\n    {\n{}\n    }\n}"
    tests = teacher_answers(tmp_path / "tests.jsonl", {
        # The repeated import is dropped; Node's modules and require are typed any (no @types/node).
        0: ("typescript", fenced('import assert from "assert";\nimport { EOL } from "os";\n\n'
                                 'assert.deepStrictEqual(lines(`a${EOL}${EOL}b`), ["a", "b"]);\n'
                                 'assert.ok(require("fs").existsSync("prog.ts"));', "typescript")),
        1: ("typescript", fenced('import assert from "assert";\nassert.strictEqual(lines("a").length, 2);', "typescript")),
        2: ("typescript", fenced('const n: number = lines("a");', "typescript")),  # a type error fails the build
        # The solution's Main (it would exit 3) is renamed; using directives move to the top.
        3: ("csharp", fenced(cs_tests.replace("{}", '        Debug.Assert(Text.Words(" a  b ") == 2);'), "csharp")),
        4: ("csharp", fenced(cs_tests.replace("{}", '        Debug.Assert(Text.Words("a b") == 3, "words");\n'
                                                    '        Console.WriteLine("not reached");'), "csharp")),
        5: ("csharp", fenced(cs_tests.replace("{}", '        if (Text.Words("") != 1) throw new Exception("empty");'), "csharp")),
        # Mono's mcs reads C# 7: a record (C# 9) does not compile.
        6: ("csharp", fenced("record Pair(int A, int B);\n\n" + cs_tests.replace("{}", ""), "csharp")),
    })
    summary, kept, removed = run_filter(tmp_path, records, TEACHER, tests)
    assert kept == [0, 3]
    assert {i: o["outcome"] for i, o in removed.items()} == {i: "failed" for i in (1, 2, 4, 5, 6)}
    assert "ERR_ASSERTION" in removed[1]["stderr"]
    assert "error TS2322" in removed[2]["stderr"]
    assert "Debug.Assert failed: words" in removed[4]["stderr"]
    assert "System.Exception: empty" in removed[5]["stderr"]
    assert "error CS" in removed[6]["stderr"]
    assert summary["not_checked"] == 0


def test_without_tests_compiled_code_without_main_is_only_built(tmp_path):
    records = [
        record(0, fenced("int twice(int x) { return 2 * x; }", "cpp"), "cpp"),
        record(1, fenced("int twice(int x) { return 2 * x }", "cpp"), "cpp"),
        record(2, fenced("#include <cassert>\nint main() { assert(1 + 1 == 3); }", "cpp"), "cpp"),
        record(3, fenced("pub fn twice(x: i32) -> i32 {\n    assert!(x < 1000);\n    2 * x\n}", "rust"), "rust"),
        record(4, fenced("#!/bin/bash\necho \"usage: $0 FILE\" >&2\nexit 2", "bash"), "shell"),
        record(5, "```go\nfunc twice(x int) int { return 2 * x }\n```", "go"),
    ]
    summary, kept, removed = run_filter(tmp_path, records, {**TEACHER, "tests": "solution", "keep_untested": True})
    assert kept == [0, 3, 4, 5]
    assert {i: o["outcome"] for i, o in removed.items()} == {1: "untested_failed", 2: "failed"}
    assert "error: expected" in removed[1]["stderr"]
    assert summary["outcomes"] == {"failed": 1, "untested": 3, "untested_failed": 1}
    assert summary["not_checked_reasons"] == {"no toolchain for go": 1}


@pytest.mark.skipif(shutil.which("swiftc") is not None, reason="swiftc is installed here")
def test_a_language_whose_toolchain_is_missing_is_not_checked(tmp_path):
    swift = record(0, fenced("func twice(_ x: Int) -> Int { 2 * x }", "swift"), "swift")
    tests = teacher_answers(tmp_path / "tests.jsonl", {0: ("swift", fenced("assert(twice(2) == 5)", "swift"))})
    summary, kept, removed = run_filter(tmp_path, [swift], TEACHER, tests)
    assert kept == [0] and removed == {}
    assert summary["checked"] == 0 and summary["outcomes"] == {} and summary["pass_rate"] is None
    assert summary["not_checked_reasons"] == {"toolchain 'swiftc' not found": 1}


def test_program_assembly():
    assert execution_filter.solution_code("```py\na = 1\n```\ntext\n```python\nassert a == 1\n```", "python") == "a = 1\n\n\nassert a == 1\n"
    assert execution_filter.solution_code("x = 1\nassert x", "python") == "x = 1\nassert x"  # unfenced but valid Python
    assert execution_filter.solution_code("```js\nconsole.log(1)\n```", "python") is None
    assert execution_filter.solution_code("fn main() {}", "rust") is None  # other languages need a fence
    files = execution_filter.assemble("php", "<?php\nfunction f() { return 1; }\n?>", "<?php\nassert(f() === 1);")
    assert files == {"prog.php": "<?php\n\nfunction f() { return 1; }\n\n\n\nassert(f() === 1);\n"}
    assert execution_filter.assemble("shell", "echo hi", "bash solution.sh") == {"solution.sh": "echo hi", "prog.sh": "bash solution.sh"}


def test_outputs_are_byte_stable_across_reruns(tmp_path):
    """No timings, and error messages without the random work directory: a rerun writes the same bytes."""
    records = [record(0, fenced("assert 1 + 1 == 3")), record(1, fenced("<?php\nassert(1 + 1 === 3);", "php"), "php")]
    outputs = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        summary, _, removed = run_filter(tmp_path / run, records, {**SETTINGS, "languages": ["python", "php"]})
        assert set(removed) == {0, 1} and "seconds" not in summary
        outputs.append([(tmp_path / run / name).read_bytes() for name in ("summary.json", "removed.jsonl")])
    assert outputs[0] == outputs[1]
    assert b"exec-filter-" not in outputs[0][1]
