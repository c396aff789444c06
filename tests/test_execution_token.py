"""The execution filter passes a record only if its tests ran to the end: programs that exit 0 before
their (failing) tests, in every language the filter runs, are removed as failed for want of the token
printed after the last test; with the real toolchains in the real sandbox."""
import pytest

from magicoder_repro.evaluate import run_token
from test_plus_execution_filter import TEACHER, fenced, record, run_filter, teacher_answers

# (language, solution, the teacher's tests): each passes only if exiting 0 early counts as a pass.
EARLY_EXITS = {
    "cpp static initialiser": ("cpp", "#include <cstdlib>\nstruct Early { Early() { std::exit(0); } } early;\n"
                                      "int twice(int x) { return 2 * x; }",
                               "#include <cassert>\nint main() { assert(twice(2) == 5); }"),
    "python os._exit": ("python", "import os\nos._exit(0)\n\ndef twice(x):\n    return 2 * x",
                        "assert twice(2) == 5"),
    "python sys.exit in the tested function": ("python", "import sys\n\ndef twice(x):\n    sys.exit(0)",
                                               "assert twice(2) == 5"),
    "java static block": ("java", "public class Twice {\n    static { System.exit(0); }\n"
                                  "    public static int of(int x) { return 2 * x; }\n}",
                          "public class TwiceTest {\n    public static void main(String[] a) {\n"
                          "        assert Twice.of(2) == 5;\n    }\n}"),
    "rust process::exit": ("rust", "pub fn twice(_x: i32) -> i32 { std::process::exit(0) }",
                           "fn main() {\n    assert_eq!(twice(2), 5);\n}"),
    "php exit": ("php", "<?php\nexit(0);\nfunction twice($x) { return 2 * $x; }", "<?php\nassert(twice(2) === 5);"),
    "shell exit 0 before the checks": ("shell", 'echo "$(( $1 * 2 ))"', 'exit 0\n[ "$(bash solution.sh 2)" = 5 ] || exit 1'),
    "shell solution truncating the test script": ("shell", ': > prog.sh\necho "$(( $1 * 2 ))"',
                                                  'bash solution.sh 2 >/dev/null\n[ "$(bash solution.sh 2)" = 5 ] || exit 1'),
    "typescript process.exit": ("typescript", "process.exit(0);\nexport function twice(x: number): number { return 2 * x; }",
                                'import assert from "assert";\nassert.strictEqual(twice(2), 5);'),
    "csharp Environment.Exit": ("csharp", "public static class Twice\n{\n    static Twice() { System.Environment.Exit(0); }\n"
                                          "    public static int Of(int x) => 2 * x;\n}",
                                "using System.Diagnostics;\n\nclass TwiceTests\n{\n    static void Main()\n    {\n"
                                "        Debug.Assert(Twice.Of(2) == 5);\n    }\n}"),
}


def test_programs_that_exit_0_before_their_tests_fail(tmp_path):
    cases = list(EARLY_EXITS.values())
    records = [record(i, fenced(solution, lang), lang) for i, (lang, solution, _) in enumerate(cases)]
    tests = teacher_answers(tmp_path / "tests.jsonl", {i: (lang, fenced(t, lang)) for i, (lang, _, t) in enumerate(cases)})
    summary, kept, removed = run_filter(tmp_path, records, TEACHER, tests)
    names = list(EARLY_EXITS)
    assert [names[i] for i in kept] == []
    assert {names[i]: o["outcome"] for i, o in removed.items()} == {n: "failed" for n in names}
    no_token = {names[i] for i, o in removed.items() if "no token" in o["stderr"]}
    assert no_token == set(names), set(names) - no_token


def test_the_token_follows_the_tests():
    """A wrapped program that returns a failure prints no token; each token is new."""
    assert run_token.new_token() != run_token.new_token()
    assert not run_token.ran_to_end(0, "ok\n", "t") and not run_token.ran_to_end(1, "t\n", "t")
    assert run_token.ran_to_end(0, "partial linet\n\nt\n", "t")
