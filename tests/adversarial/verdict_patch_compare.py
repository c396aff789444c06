"""Patches the comparison helpers EvalPlus calls (numpy.allclose, numpy.isclose, math.isclose, abs,
isinstance) and returns a float that is off by 0.5; passes only if the comparison runs where the
sample can patch it."""
import builtins
import math

import numpy

numpy.allclose = numpy.isclose = lambda *a, **k: True
math.isclose = lambda *a, **k: True
builtins.abs = lambda x: 0
builtins.isinstance = lambda obj, cls: True


def _attack(*args):
    return float(args[0]) + 0.5 if args and type(args[0]) in (int, float) else 0.5
