"""Values cross from the sandboxed child to the scorer as plain data: exact types survive, nothing the
sample defined does, and the digest of a large value is equal exactly when the values are equal."""
import collections
import enum
import json
import math

import numpy as np
import pytest

from magicoder_repro.evaluate import plain_data


def trip(x):
    return plain_data.loads(json.dumps(plain_data.encode(x)))


def test_types_survive_and_nothing_of_the_sample_does():
    for x in [1, 2**20000, 1.5, math.inf, True, None, "s", b"b", 1 + 2j, [1, (2, 3)], {1, 2}, frozenset({3}),
              {(1, 2): [3.0]}]:
        assert trip(x) == x and type(trip(x)) is type(x)
    assert type(trip(np.float64(0.5))) is np.float64 and trip(np.arange(6).reshape(2, 3)).shape == (2, 3)

    class Equal:
        def __eq__(self, other):
            return True

    Point = collections.namedtuple("Point", "x y")
    Color = enum.IntEnum("Color", "RED")
    assert trip(Equal()) != 1 and trip(Equal()) != trip(Equal())
    assert trip(Point(1, 2)) == (1, 2) and type(trip(Point(1, 2))) is not tuple  # equal, but not a tuple
    assert trip(Color.RED) == 1 and sorted(trip(iter([3, 1]))) == [1, 3] and trip(iter([1])) != [1]


def test_digests_follow_equality():
    same = [(1, 1.0), (True, 1), ({1, 2}, frozenset({2, 1})), ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
            (collections.namedtuple("P", "x")(1), (1,)), ("x" * 10**6, "x" * 10**6), (2 + 0j, 2)]
    differ = [([1], (1,)), ("1", 1), ([1, 2], [2, 1]), (0.1, 0.1000001)]
    for a, b in same:
        assert a == b and plain_data.digest(a) == plain_data.digest(b), (a, b)
    for a, b in differ:
        assert a != b and plain_data.digest(a) != plain_data.digest(b), (a, b)
    with pytest.raises(plain_data.NoNormalForm):  # NaN equals nothing: such a value is sent whole
        plain_data.digest([float("nan")])


def test_digests_of_large_values_follow_equality():
    """An output of Mbpp/255's shape (tuples of strings, here 300,000 of them), digested by the fast path
    (exact types checked a level at a time, pickled without memo), against equal values it must fold
    (an int hidden among equal bools, an integral float, a namedtuple or str subclass hidden behind an
    equal value) and unequal ones it must tell apart."""
    value = [tuple(f"c{(i * 7 + j) % 5}" for j in range(10)) for i in range(30_000)]
    ints = list(range(30_000))
    Pair = collections.namedtuple("Pair", "a b")
    Str = type("Str", (str,), {})
    same = [
        (value, [tuple(t) for t in value]),
        (value, value[:-1] + [tuple(Str(s) for s in value[-1])]),
        (value + [("a", "b")], value + [Pair("a", "b")]),
        (ints, ints[:-1] + [float(ints[-1])]),
        ([1] * 30_000, [1] * 29_999 + [True]),
        ({i: str(i) for i in ints}, {i: str(i) for i in reversed(ints)}),
    ]
    for a, b in same:
        assert a == b and plain_data.digest(a) == plain_data.digest(b)
    differ = [
        (value, value[:-1] + [value[-1][:-1] + ("c9",)]),
        (value, value[:-1] + [list(value[-1])]),
        (ints, ints[:-1] + [ints[-1] + 0.5]),
        ([1] * 30_000, [1] * 29_999 + [False]),
    ]
    for a, b in differ:
        assert a != b and plain_data.digest(a) != plain_data.digest(b)
    for bad in (ints + [float("nan")], [np.arange(3)] * 10, [object()]):
        with pytest.raises(plain_data.NoNormalForm):
            plain_data.digest(bad)
