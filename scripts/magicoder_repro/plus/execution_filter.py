"""Execution-checked OSS-Instruct: run each solution with its tests in the sandbox, keep what passes.

The original never ran the code its teacher wrote; StarCoder2-Instruct's self-align pipeline showed
that keeping only responses that pass their own tests is a cheap, strong filter. Where the tests
come from (`tests`):
  solution  the asserts the teacher left in the solution itself
  teacher   a test program the teacher wrote for the record when asked (teacher_tests.py); the
            solution's own asserts run along with it
  both      the teacher's tests where it wrote some, else the solution's asserts
The solution's code blocks in the record's language, joined, and the tests make one program, built
and run with the language's toolchain (sandbox.TOOLCHAINS, the evaluation image's) in the evaluation
sandbox (no network, read-only root, private /tmp, limits). It passes when it builds within
`compile_timeout_s` and then exits 0 within `timeout_s` having printed, after its last test, a random
token the harness added (run_token.py): an early exit 0 is a failure. A program without tests still runs if it can
run by itself (a crash fails it) and counts as `untested`; one that cannot (C++, C#, Java or Rust
without a main, a shell script waiting for its arguments) is only compiled or parsed. Untested records are kept with
`keep_untested` only. Records of other languages, or whose toolchain is missing, pass through as
`not_checked`, counted with the reason.
"""
import argparse
import ast
import json
import re
import shutil
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from magicoder_repro.evaluate import run_token, sandbox
from magicoder_repro.core.jsonl import add_filter_arguments, iter_jsonl, write_filter_outputs
from magicoder_repro.core.errors import one_line_errors

FENCE = re.compile(r"```[ \t]*(\w*)[^\n]*\n(.*?)```", re.DOTALL)
EXAMPLES = 5
KEEP = {"passed"}


@dataclass(frozen=True)
class Language:
    name: str                  # as the prompt names it
    tags: frozenset            # fence tags of its code blocks ("c++" reads as "c")
    harness: str               # how the teacher's tests meet the solution: told to the teacher in the prompt
    asserts: str | None = None       # a test in the solution's own code (Python: found with ast)
    main: str | None = None          # the entry point a compiled program needs to run
    solution_main: tuple | None = None  # (pattern, replacement): the solution's entry point, disabled under tests
    build_only: str | None = None    # compiles or parses a program that cannot run by itself
    solution_file: str | None = None  # the solution is this script, which the tests run
    imports: str | None = None       # an import that must not repeat: dropped from the tests if the solution has it
    support: tuple = ()              # (file name, text): written beside the program


# Debian packages no @types/node: without it tsc knows neither require nor Node's modules.
TS_NODE = """declare module "*";
declare var require: any, module: any, exports: any, process: any, Buffer: any, __dirname: string, __filename: string;
"""
CS_MAIN = r"\bstatic\s+((?:async\s+)?[\w<>]+)\s+Main\s*\("
# Mono's Debug.Assert only writes a message and goes on: this listener, appended to the program and
# installed by the config, makes a failed one end the program with status 1.
CS_ASSERT = """
sealed class ExecutionFilterAssert : System.Diagnostics.TraceListener
{
    public override void Write(string message) { }
    public override void WriteLine(string message) { }
    public override void Fail(string message, string detail)
    {
        System.Console.Error.WriteLine("Debug.Assert failed: " + message + " " + detail);
        System.Environment.Exit(1);
    }
}
"""
CS_CONFIG = """<?xml version="1.0"?>
<configuration>
  <system.diagnostics>
    <trace><listeners><clear/><add name="fail" type="ExecutionFilterAssert, prog"/></listeners></trace>
  </system.diagnostics>
</configuration>
"""

LANGUAGES = {
    "python": Language(
        "Python", frozenset({"", "python", "py", "python3"}),
        "it is appended to the solution's code (its `if __name__ == \"__main__\"` block is skipped) and the "
        "file runs with python3; check with assert.",
        solution_main=(r"^if\s+__name__\s*==\s*[\"']__main__[\"']\s*:", "if False:")),
    "cpp": Language(
        "C++", frozenset({"cpp", "c", "cc", "cxx", "hpp"}),
        "it is appended to the solution's code in one C++17 file, built with g++ and run; write your own "
        "int main() (a main in the solution is renamed) and check with assert from <cassert>.",
        asserts=r"\bassert\s*\(", main=r"\bint\s+main\s*\(", solution_main=(r"\bint\s+main\s*\(", "int solution_main("),
        build_only="g++ -std=c++17 -fsyntax-only prog.cpp"),
    "java": Language(
        "Java", frozenset({"java"}),
        "it goes into one file with the solution's code (imports are moved to the top) and runs with "
        "assertions on (java -ea); put the checks in the main method of a class of your own.",
        asserts=r"\bassert\b", main=r"\bstatic\s+void\s+main\s*\(", build_only="javac -d . Problem.java"),
    "php": Language(
        "PHP", frozenset({"php"}),
        "it is appended to the solution's code in one script and runs with php; check with assert().",
        asserts=r"\bassert\s*\("),
    "rust": Language(
        "Rust", frozenset({"rust", "rs"}),
        "it is appended to the solution's code in one file, built with rustc (edition 2021) and run; write "
        "your own fn main() (a main in the solution is renamed) and check with assert! and assert_eq!.",
        asserts=r"\b(?:debug_)?assert(?:_eq|_ne)?!", main=r"\bfn\s+main\s*\(",
        solution_main=(r"\bfn\s+main\s*\(", "fn solution_main("),
        build_only="rustc --edition 2021 --crate-type lib --emit metadata -o prog.rmeta prog.rs", imports=r"use\s"),
    "shell": Language(
        "Bash", frozenset({"bash", "sh", "shell", "zsh"}),
        "the solution is saved as solution.sh in the current directory and your Bash script runs it "
        "(bash solution.sh ...) with the arguments, input and environment each check needs; exit 1 when a "
        "check fails.",
        build_only="bash -n prog.sh", solution_file="solution.sh"),
    "typescript": Language(
        "TypeScript", frozenset({"typescript", "ts"}),
        "it is appended to the solution's code in one file, compiled with tsc 4.8 (not strict, ES2020, "
        "CommonJS, esModuleInterop; Node's modules are typed `any`) and run with Node.js; check with "
        "`import assert from \"assert\"`.",
        asserts=r"(?<!console\.)\bassert(?:\.\w+)?\s*\(", imports=r"import\s", support=(("node.d.ts", TS_NODE),)),
    "csharp": Language(
        "C#", frozenset({"csharp", "cs", "c#"}),
        "it goes into one file with the solution's code (using directives are moved to the top), compiled "
        "with Mono's mcs (C# 7) and run with mono; write your own static void Main() (a Main in the "
        "solution is renamed) and check with System.Diagnostics.Debug.Assert (it is on, and a failed one "
        "ends the program).",
        asserts=r"\b(?:Debug|Trace)\.Assert\s*\(", main=CS_MAIN, solution_main=(CS_MAIN, r"static \1 SolutionMain("),
        build_only="mcs -d:DEBUG -target:library -out:prog.dll prog.cs",
        support=(("prog.exe.config", CS_CONFIG),)),
    "swift": Language(
        "Swift", frozenset({"swift"}),
        "it is appended to the solution's code in one file, built with swiftc and run; check with assert().",
        asserts=r"\b(?:assert|precondition)\s*\("),
}
PHP_TAG = re.compile(r"^[ \t]*<\?php\b|\?>[ \t]*$", re.M)
CS_USING = re.compile(r"^using\s+(?:static\s+)?[\w.]+(?:\s*=\s*[^;\n]+)?;[ \t]*\n?", re.M)
JAVA_IMPORT = re.compile(r"^[ \t]*(?:import|package)\s[^;]*;[ \t]*\n?", re.M)
# Top-level types start in column 0 in formatted code (nested ones are indented).
JAVA_TYPE = re.compile(r"^(?:public\s+)?((?:(?:abstract|final|sealed|non-sealed|strictfp)\s+)*"
                       r"(?:class|interface|enum|record)\s+(\w+))", re.M)


def code_blocks(text: str, lang: str, untagged: bool = False) -> list[str]:
    """The text's fenced code blocks in the language (and untagged ones, if asked)."""
    tags = LANGUAGES[lang].tags | ({""} if untagged else set())
    return [body for tag, body in FENCE.findall(text) if tag.lower() in tags]


def solution_code(solution: str, lang: str) -> str | None:
    """The solution's code blocks joined in order; an unfenced Python solution counts if it parses."""
    blocks = code_blocks(solution, lang)
    if blocks:
        return "\n\n".join(blocks)
    if lang == "python":
        try:
            ast.parse(solution)
        except SyntaxError:
            return None
        return solution
    return None


def answer_code(answer: str, lang: str) -> str | None:
    """The test program in the teacher's answer (blocks in the language or untagged), or None."""
    return "\n\n".join(code_blocks(answer, lang, untagged=True)) or None


def has_asserts(code: str, lang: str) -> bool:
    if lang != "python":
        pattern = LANGUAGES[lang].asserts
        return bool(pattern and re.search(pattern, code))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False  # it will fail when run; whether it "had tests" does not matter then
    return any(isinstance(node, ast.Assert) for node in ast.walk(tree))


def java_program(code: str) -> str:
    """Java's one-file rules met: imports first, no public top-level type (the file is Problem.java), and
    a class Problem whose main runs the last top-level class with a main (the tests' if they have one)."""
    imports = dict.fromkeys(m.strip() for m in JAVA_IMPORT.findall(code) if m.lstrip().startswith("import"))
    body = JAVA_TYPE.sub(r"\1", JAVA_IMPORT.sub("", code))
    starts = list(JAVA_TYPE.finditer(body))
    ends = [m.start() for m in starts[1:]] + [len(body)]
    mains = [m[2] for m, end in zip(starts, ends) if re.search(LANGUAGES["java"].main, body[m.start():end])]
    program = "\n".join([*imports, "", body])
    if mains and mains[-1] != "Problem":
        program += (f"\n\nclass Problem {{\n    public static void main(String[] args) throws Throwable {{\n"
                    f"        {mains[-1]}.main(args);\n    }}\n}}\n")
    return program


def assemble(lang: str, solution: str, tests: str | None) -> dict[str, str]:
    """The files to write: the program under its toolchain's file name (and a shell solution beside it)."""
    spec, name = LANGUAGES[lang], sandbox.toolchain(lang).file
    if spec.solution_file:
        return {spec.solution_file: solution, name: tests} if tests else {name: solution}
    if tests and spec.imports:
        own = set(solution.splitlines())
        tests = "\n".join(line for line in tests.splitlines() if not (re.match(spec.imports, line) and line in own))
    if tests and spec.solution_main:
        solution = re.sub(*spec.solution_main, solution, flags=re.M)
    program = "\n\n".join(filter(None, [solution, tests])) + "\n"
    if lang == "php":  # one script: the blocks' own opening and closing tags would break it
        program = "<?php\n" + PHP_TAG.sub("", program)
    elif lang == "java":
        program = java_program(program)
    elif lang == "csharp":  # using directives must precede every declaration
        usings = dict.fromkeys(m.strip() for m in CS_USING.findall(program))
        program = "\n".join([*usings, "", CS_USING.sub("", program), CS_ASSERT])
    return {name: program, **dict(spec.support)}


def runs_alone(lang: str, program: str) -> bool:
    spec = LANGUAGES[lang]
    return not spec.solution_file and (spec.main is None or bool(re.search(spec.main, program)))


def not_checked_reason(lang: str, settings: dict) -> str | None:
    """Why records of this language are not run, or None."""
    if lang not in LANGUAGES:
        return f"no toolchain for {lang}"
    if lang not in settings.get("languages", ["python"]):
        return "not in curation.execution_filter.languages"
    tool = sandbox.toolchain(lang).tool
    return None if shutil.which(tool) else f"toolchain {tool!r} not found"


def check(record: dict, tests: str | None, settings: dict, sandbox_cfg: dict) -> dict:
    """The record's outcome: passed, failed, timeout, untested, untested_failed or no_code, with the reason."""
    lang = record["lang"]
    solution = solution_code(record["solution"], lang)
    if solution is None:
        return {"outcome": "no_code"}
    files = assemble(lang, solution, tests)
    toolchain = sandbox.toolchain(lang)
    build, run = toolchain.build, toolchain.run
    tested = bool(tests) or (settings.get("tests", "solution") != "teacher" and has_asserts(solution, lang))
    if not tests and not runs_alone(lang, files[toolchain.file]):
        build, run, tested = LANGUAGES[lang].build_only, "", False
    token = run_token.new_token()
    if run:  # the program must prove that it ran to the end
        files[toolchain.file] = run_token.finish(lang, files[toolchain.file], token)
        build += run_token.BUILD_FLAGS.get(lang, "") if build else ""
    # The compiler gets its own time limit: a slow or busy machine must not turn a build into a timeout.
    steps = [(cmd, timeout) for cmd, timeout in ((build, settings.get("compile_timeout_s", 60)),
                                                  (run, settings.get("timeout_s", 10))) if cmd]
    with tempfile.TemporaryDirectory(prefix="exec-filter-") as work:
        for name, text in files.items():
            Path(work, name).write_text(text, encoding="utf-8")
        proc = sandbox.run_steps(steps, work, sandbox_cfg)  # one sandbox: the build's output reaches the run
    found = {"tests": tests} if tests else {}
    # PHP reports its errors on stdout; file names lose the random work directory (stable outputs).
    output = (proc.stderr.strip() or proc.stdout).replace(f"{Path(work).resolve()}/", "").replace(token, "<token>")[-500:]
    if "timeout" in proc.limits_hit:
        return {"outcome": "timeout", "stderr": output, **found}
    if proc.returncode != 0:
        return {"outcome": "failed" if tested else "untested_failed", "stderr": output, **found}
    if run and not run_token.ran_to_end(proc.returncode, proc.stdout, token):
        return {"outcome": "failed" if tested else "untested_failed", **found,
                "stderr": (output + "\n" if output else "") + "exited 0 before the end of its tests (no token)"}
    return {"outcome": "passed" if tested else "untested", **found}


def read_teacher_tests(path) -> dict[int, str]:
    """Record index -> the test program from the teacher's answer (teacher_tests.py's output)."""
    tests = {}
    for row in iter_jsonl(path):
        content = row["response"]["choices"][0]["message"].get("content") if "response" in row else None
        code = answer_code(content or "", row["lang"]) if row["lang"] in LANGUAGES else None
        if code:
            tests[row["index"]] = code
    return tests


def execution_filter(records: list[dict], settings: dict, sandbox_cfg: dict, tests: dict[int, str] | None = None):
    """Kept records (passing, not checked, and untested ones if asked), removed ones with their outcome,
    the outcomes of the checked records, and the reasons of those not checked."""
    keep = KEEP | ({"untested"} if settings.get("keep_untested") else set())
    reasons = {i: not_checked_reason(r.get("lang"), settings) for i, r in enumerate(records)}
    checked = [i for i, reason in reasons.items() if reason is None]
    tests = tests or {}

    def one(i):
        return check(records[i], tests.get(records[i]["index"]), settings, sandbox_cfg)

    with ThreadPoolExecutor(max_workers=settings.get("workers", 2)) as pool:
        outcomes = dict(zip(checked, pool.map(one, checked)))
    kept, removed = [], []
    for i, record in enumerate(records):
        outcome = outcomes.get(i, {"outcome": "not_checked"})
        if outcome["outcome"] in keep | {"not_checked"}:
            kept.append(record)
        else:
            removed.append({**record, "execution": outcome})
    return kept, removed, [o["outcome"] for o in outcomes.values()], Counter(r for r in reasons.values() if r)


def summarise(settings, sandbox_cfg, records, kept, removed, outcomes, not_checked: Counter) -> dict:
    counts = Counter(outcomes)
    return {
        "settings": settings,
        "sandbox": sandbox_cfg,
        "input": len(records),
        "checked": len(outcomes),
        "not_checked": len(records) - len(outcomes),
        "not_checked_reasons": dict(sorted(not_checked.items())),
        "kept": len(kept),
        "removed": len(removed),
        "outcomes": dict(sorted(counts.items())),
        # Of the records that have tests: how many pass them.
        "pass_rate": round(counts["passed"] / tested, 4) if (tested := counts["passed"] + counts["failed"] + counts["timeout"]) else None,
        "examples": [
            {"index": r.get("index"), "outcome": r["execution"]["outcome"], "stderr": r["execution"].get("stderr", "")[-300:]}
            for r in removed[:EXAMPLES]
        ],
    }


def run(input_path, settings: dict, sandbox_cfg: dict, kept_path, removed_path, summary_path, tests_path=None) -> dict:
    records = list(iter_jsonl(input_path))
    for i, record in enumerate(records):
        if not isinstance(record.get("solution"), str):
            raise ValueError(f"{input_path}: record {i + 1} has no text field 'solution'")
    from_teacher = settings.get("tests", "solution") != "solution"
    if from_teacher and tests_path is None and any(not_checked_reason(r.get("lang"), settings) is None for r in records):
        raise ValueError(f"tests: {settings['tests']} needs the teacher's tests (--tests, rule teacher_tests)")
    tests = read_teacher_tests(tests_path) if from_teacher and tests_path else None
    kept, removed, outcomes, not_checked = execution_filter(records, settings, sandbox_cfg, tests)
    summary = summarise(settings, sandbox_cfg, records, kept, removed, outcomes, not_checked)
    write_filter_outputs(kept_path, kept, removed_path, removed, summary_path, summary)
    return summary


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", required=True, help="curation.execution_filter as JSON")
    p.add_argument("--sandbox", required=True, help="evaluation.sandbox as JSON")
    p.add_argument("--tests", help="the teacher's tests for these records (rule teacher_tests), with tests: teacher or both")
    add_filter_arguments(p)
    a = p.parse_args(argv)
    summary = run(a.input, json.loads(a.settings), json.loads(a.sandbox), a.kept, a.removed, a.summary, a.tests)
    print(json.dumps({k: v for k, v in summary.items() if k != "examples"}, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
