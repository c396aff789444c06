"""Proof that a program's tests ran to the end: a random token printed after the last test.

An exit status of 0 alone says nothing about the tests: a C++ static initialiser that calls exit(0),
an early `exit 0`, os._exit(0), process.exit(0) or a shell script that truncates itself all exit 0
before a single test ran. So the harness adds, after the tests, code that prints a fresh random token
(where the tests have their own entry point, a wrapper that calls it and prints the token once it has
returned with success), and the scorer counts a pass only for exit status 0 with the token on a line
of its own in the program's output. This defeats early exits; it does not stop a program written to
find the token in its own source or binary (the verdict for EvalPlus's tasks has no such gap:
evalplus_verdict.py).
"""
import re
import secrets

MAINS = {"rust": r"\bfn\s+main\s*\(", "csharp": r"\bstatic\s+((?:async\s+)?[\w<>]+)\s+Main\s*\("}
# C++ keeps its own main (and its implicit `return 0`): the linker sends the C runtime's call to the wrapper.
BUILD_FLAGS = {"cpp": " -Wl,--wrap=main"}


def new_token() -> str:
    return f"tests-ran-{secrets.token_hex(12)}"


def finish(lang: str, program: str, token: str) -> str:
    """The program with the token printed after its tests (lang: a sandbox.TOOLCHAINS name)."""
    line = f"\\n{token}\\n"
    if lang == "python":
        return f"{program}\n__import__('os').write(1, b'{line}')\n"
    if lang == "shell":
        return f"{program}\nprintf '\\n%s\\n' {token}\n"
    if lang == "php":  # back into PHP mode if the program ends outside it
        reopen = "<?php " if program.rstrip().endswith("?>") else ""
        return f"{program}\n{reopen}fwrite(STDOUT, \"{line}\");\n"
    if lang in ("js", "typescript"):
        return f"{program}\nrequire('fs').writeSync(1, '{line}');\n"
    if lang == "swift":
        return f"{program}\nprint(\"{line}\")\n"
    if lang == "cpp":
        return (f"{program}\n#include <cstdio>\nextern \"C\" int __real_main(int, char**, char**);\n"
                f"extern \"C\" int __wrap_main(int argc, char** argv, char** envp) {{\n"
                f"    int rc = __real_main(argc, argv, envp);\n"
                f"    if (rc == 0) {{ std::fflush(stdout); std::fputs(\"{line}\", stdout); std::fflush(stdout); }}\n"
                f"    return rc;\n}}\n")
    if lang == "rust":
        program = re.sub(MAINS["rust"], "fn tests_main(", program)
        return (f"{program}\nfn main() -> impl std::process::Termination {{\n    let result = tests_main();\n"
                f"    print!(\"{line}\");\n    result\n}}\n")
    if lang == "java":
        return java(program, line)
    if lang == "csharp":
        return re.sub(MAINS["csharp"], r"static \1 TestsMain(", program) + CSHARP.replace("TOKEN_LINE", line)
    raise ValueError(f"no token for language {lang!r}")


def java(program: str, line: str) -> str:
    """Problem.java's class Problem becomes ProblemTests; a new class Problem runs its main, then prints."""
    program = re.sub(r"\bpublic\s+(?=(?:final\s+)?class\s+Problem\b)", "", program)
    program = re.sub(r"\bProblem\b", "ProblemTests", program)
    return (f"{program}\nclass Problem {{\n    public static void main(String[] args) throws Throwable {{\n"
            f"        ProblemTests.main(args);\n        System.out.print(\"{line}\");\n        System.out.flush();\n"
            f"    }}\n}}\n")


CSHARP = """
static class ExecutionToken
{
    static int Main(string[] args)
    {
        foreach (var type in typeof(ExecutionToken).Assembly.GetTypes())
            foreach (var m in type.GetMethods(System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic))
                if (m.Name == "TestsMain")
                {
                    object result;
                    try { result = m.Invoke(null, m.GetParameters().Length == 0 ? null : new object[] { args }); }
                    catch (System.Reflection.TargetInvocationException e)
                    {
                        System.Console.Error.WriteLine("Unhandled Exception: " + e.InnerException.GetType() + ": " + e.InnerException.Message);
                        return 1;
                    }
                    var task = result as System.Threading.Tasks.Task;
                    if (task != null) { task.Wait(); var p = task.GetType().GetProperty("Result"); result = p == null ? null : p.GetValue(task); }
                    if (result is int && (int)result != 0) return (int)result;
                    System.Console.Out.Write("TOKEN_LINE");
                    System.Console.Out.Flush();
                    return 0;
                }
        return 1;
    }
}
"""


def ran_to_end(returncode: int, stdout: str, token: str) -> bool:
    return returncode == 0 and token in stdout.splitlines()
