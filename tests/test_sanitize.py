"""MBPP sanitisers side by side on solutions where they differ: the November 2023 tools/sanitize.py
that Magicoder ran (original-2023, checked against that script's own output when written) and today's
evalplus.sanitize; what each keeps, and whether the kept program then passes. Also checks that the
paper presets use the original's."""
import pytest
import yaml

from eval_helpers import REPO
from magicoder_repro.evaluate.sanitize import sanitize

PRIME = "any(n % i == 0 for i in range(2, n))"
# name: (solution, original-2023 gives, evalplus gives); the entry point is is_not_prime (Mbpp/3).
CASES = {
    "assert before the definition": (
        f"assert is_not_prime(4)\ndef is_not_prime(n):\n    return {PRIME}\n",
        f"assert is_not_prime(4)\ndef is_not_prime(n):\n    return {PRIME}",
        f"def is_not_prime(n):\n    return {PRIME}"),
    "import after the function": (
        f"def is_not_prime(n):\n    return math.isqrt(n) < 0 or {PRIME}\nimport math\n",
        f"def is_not_prime(n):\n    return math.isqrt(n) < 0 or {PRIME}",
        f"import math\ndef is_not_prime(n):\n    return math.isqrt(n) < 0 or {PRIME}"),
    "module constant after the function": (
        f"def is_not_prime(n):\n    return n in SMALL or {PRIME}\n\nSMALL = {{0, 1}}\n",
        f"def is_not_prime(n):\n    return n in SMALL or {PRIME}",
        f"def is_not_prime(n):\n    return n in SMALL or {PRIME}\nSMALL = {{0, 1}}"),
    "helper class after the function": (
        f"def is_not_prime(n):\n    return Checker().check(n)\n\nclass Checker:\n    def check(self, n):\n        return n < 2 or {PRIME}\n",
        "def is_not_prime(n):\n    return Checker().check(n)",
        f"def is_not_prime(n):\n    return Checker().check(n)\nclass Checker:\n    def check(self, n):\n        return n < 2 or {PRIME}"),
    "decorated entry point": (
        f"import functools\n\n@functools.lru_cache(None)\ndef is_not_prime(n):\n    return n < 2 or {PRIME}\n",
        f"import functools\n\n@functools.lru_cache(None)\ndef is_not_prime(n):\n    return n < 2 or {PRIME}",
        "import functools"),
    "helper after a broken helper": (
        f"def is_not_prime(n):\n    return n < 2 or helper(n)\n\ndef broken(:\n    pass\n\ndef helper(n):\n    return {PRIME}\n",
        f"def is_not_prime(n):\n    return n < 2 or helper(n)\n\ndef helper(n):\n    return {PRIME}",
        "def is_not_prime(n):\n    return n < 2 or helper(n)"),
}


def passes(code: str) -> bool:
    """Mbpp/3's base tests on the sanitised program (trusted test code, run here)."""
    env = {}
    try:
        exec(code, env)
        return [env["is_not_prime"](n) for n in (2, 10, 35, 37)] == [False, True, True, False]
    except Exception:
        return False


@pytest.mark.parametrize("name", CASES)
def test_sanitisers_side_by_side(name):
    solution, original, today = CASES[name]
    assert sanitize(solution, "is_not_prime", "original-2023") == original
    assert sanitize(solution, "is_not_prime", "evalplus") == today
    assert sanitize(solution, "is_not_prime", "none") == solution
    print(f"{name}: original-2023 {'passes' if passes(original) else 'fails'}, "
          f"evalplus {'passes' if passes(today) else 'fails'}")


def test_verdicts_differ_both_ways():
    """The choice changes scores in both directions, so it is a config value of its own."""
    verdicts = {name: (passes(original), passes(today)) for name, (_, original, today) in CASES.items()}
    assert verdicts == {"assert before the definition": (False, True), "import after the function": (False, True),
                        "module constant after the function": (False, True), "helper class after the function": (False, True),
                        "decorated entry point": (True, False), "helper after a broken helper": (True, False)}


def test_what_both_cut():
    code = "def is_not_prime(n):\n    return n > 1\n\nassert is_not_prime(2) == False\nprint(1)\n"
    assert sanitize(code, "is_not_prime", "original-2023") == sanitize(code, "is_not_prime", "evalplus") \
        == "def is_not_prime(n):\n    return n > 1"


def test_paper_presets_use_the_original_sanitiser():
    for preset in ("magicoder-ds", "magicoder-cl"):
        benchmarks = yaml.safe_load((REPO / "configs" / f"{preset}.yaml").read_text())["evaluation"]["benchmarks"]
        assert benchmarks["mbpp"]["sanitizer"] == "original-2023"
    with pytest.raises(ValueError, match="unknown sanitizer 'tree'"):
        sanitize("", "f", "tree")
