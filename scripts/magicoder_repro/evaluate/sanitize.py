"""MBPP(+) solution clean-up before scoring, as the original pipeline did it or as EvalPlus does today.

Magicoder's MBPP numbers come from `python -m tools.sanitize` of the EvalPlus repository as it stood
in late November 2023 (experiments/README.md; EvalPlus commit e1c8136, the last change before the
paper), then `evalplus.evaluate`. That tool worked on lines and strings. Today's `evalplus.sanitize`
(0.3.1, tree-sitter) keeps only the entry point, its dependencies and imports, and drops every other
top-level statement, so e.g. a top-level assert that fails, or that uses the function before its
definition, no longer fails the sample. The choice is `evaluation.benchmarks.<mbpp>.sanitizer`:
  original-2023  the November 2023 tool's behaviour (reimplemented here; the paper presets use it)
  evalplus       evalplus.sanitize of the installed EvalPlus
  none           the extracted code as it is
"""
import ast

SANITIZERS = ("original-2023", "evalplus", "none")


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, MemoryError, ValueError):
        return False
    return True


def original_2023(code: str, entry_point: str) -> str:
    """The November 2023 tools/sanitize.py on an MBPP solution (no --eofs, no --rm-prefix-lines):
    1. the first ```python (or ```) block, if the text has one;
    2. what precedes the first `def <entry_point>` is kept as it is;
    3. from there on, 3-space indents become 4, and everything from the first line in column 0 that
       is neither blank nor a `def ` line is cut (top-level asserts, prints, `if __name__`, classes);
    4. of the `def` chunks that remain, those that do not parse alone are dropped, except the entry
       point's."""
    text = "\n" + code
    for fence in ("\n```python\n", "\n```\n"):
        if fence in text:
            text = "\n" + text.split(fence, 1)[1].split("\n```", 1)[0]
    head = f"def {entry_point}"
    before, *rest = text.split(head)
    body = head + head.join(rest)
    lines = [(" " if len(line) - len(line.lstrip()) == 3 else "") + line for line in body.splitlines()]
    for i, line in enumerate(lines):
        if line.strip() and not line.startswith("def ") and not line[0].isspace():
            lines = lines[:i]
            break
    joined = before + "\n".join(lines)
    first, *functions = joined.split("\ndef ")
    kept = [first] + [fn for fn in functions if fn.strip().startswith((entry_point + " ", entry_point + "("))
                      or _parses("\ndef " + fn)]
    return "\ndef ".join(kept).strip()


def sanitize(code: str, entry_point: str, sanitizer: str) -> str:
    if sanitizer == "original-2023":
        return original_2023(code, entry_point)
    if sanitizer == "evalplus":
        from evalplus.sanitize import sanitize as evalplus_sanitize

        return evalplus_sanitize(code, entry_point)
    if sanitizer == "none":
        return code
    raise ValueError(f"unknown sanitizer {sanitizer!r} (one of {', '.join(SANITIZERS)})")
