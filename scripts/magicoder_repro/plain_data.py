"""Python values as plain JSON data, so a verdict can be computed outside the program that made them.

A sandboxed child encodes what the code under test returned; the trusted scorer decodes it into
objects of its own (built-in types, numpy arrays and scalars, and stand-ins for everything else) and
compares those with the expected outputs. Nothing the sample defined (a class, an `__eq__`, a patched
module) survives the trip. Exact types are kept where EvalPlus's comparison looks at them
(`type(out) == type(exp)`, `isinstance(out, bool)`), so honest values compare as they would in EvalPlus.
Standard library only: this file is copied into the sandbox next to the child harness.
"""
import hashlib
import json
import os
import sys

MAX_DEPTH = 100          # deeper values (or cycles) are not encoded: the test fails
MAX_ITEMS = 1_000_000    # items taken from an iterator before giving up
BIG_INT_BITS = 12_000    # longer ints travel as hex (CPython parses long decimal strings slowly, if at all)
TAG = "$"                # JSON objects only ever carry a tag; dicts travel as lists of pairs
DIGEST_ABOVE = 64 * 1024 # encoded values longer than this travel as a digest (where they have one)
CONTAINERS = {tuple: "tuple", set: "set", frozenset: "frozenset"}


class Unencodable(ValueError):
    """Too deep, too many items, or an iterator that raised."""


def encode(x, depth: int = 0):
    """JSON-ready data for x: exact built-ins as themselves (tuples, sets, dicts, complex, bytes, big
    ints tagged), subclasses of built-ins as their base value marked `sub`, numpy values with their
    dtype, other iterables as the items they yield, anything else as an opaque type name."""
    if depth > MAX_DEPTH:
        raise Unencodable("value nested too deeply")
    t = type(x)
    if x is None or t in (bool, str, float):
        return x
    if t is int:
        return x if x.bit_length() < BIG_INT_BITS else {TAG: "int", "v": hex(x)}
    if t is list:
        return [encode(i, depth + 1) for i in x]
    if t in CONTAINERS:
        return {TAG: CONTAINERS[t], "v": [encode(i, depth + 1) for i in x]}
    if t is dict:
        return {TAG: "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in x.items()]}
    if t is complex:
        return {TAG: "complex", "v": [x.real, x.imag]}
    if t in (bytes, bytearray):
        return {TAG: t.__name__, "v": x.decode("latin-1")}
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(x, (numpy.ndarray, numpy.generic)):
        kind = "ndarray" if isinstance(x, numpy.ndarray) else "npscalar"
        return {TAG: kind, "dtype": x.dtype.str, "shape": list(numpy.shape(x)), "v": encode(x.tolist(), depth + 1)}
    for base in (bool, int, float, str, list, tuple, dict, set, frozenset, complex, bytes):
        if isinstance(x, base):  # an IntEnum, a namedtuple, an OrderedDict: equal as its base, not its type
            return {TAG: "sub", "v": encode(base(x), depth + 1)}
    try:
        it = iter(x)
    except Exception:
        return {TAG: "opaque", "type": getattr(t, "__name__", "?")}
    items = []
    try:
        for item in it:
            if len(items) == MAX_ITEMS:
                raise Unencodable("iterator yields too many items")
            items.append(encode(item, depth + 1))
    except Unencodable:
        raise
    except Exception as e:
        raise Unencodable(f"iterating the value raised {type(e).__name__}")
    return {TAG: "iter", "v": items}


def dumps(x) -> str:
    return json.dumps(encode(x), separators=(",", ":"))


# ---------------------------------------------------------------- large values travel as a digest
def larger_than(x, budget: int) -> bool:
    """Whether x's plain data would exceed about `budget` characters, found without building it (an
    MBPP+ output runs to a gigabyte)."""
    stack, size = [x], 0
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            size += len(item) + 2
        elif isinstance(item, dict):
            size += 2
            stack.extend(dict.keys(item))
            stack.extend(dict.values(item))
        elif isinstance(item, (list, tuple, set, frozenset)):
            size += 2 + len(item)
            stack.extend(item)
        else:
            size += 8
        if size > budget:
            return True
    return False


def _feed(h, x, depth: int = 0):
    """Hash x's normal form: Python's cross-type equalities folded in (1 == 1.0 == True, a set and a
    frozenset, a tuple and a namedtuple, dict and set order), so equal values of these types hash alike
    and unequal ones do not. Other types (numpy, iterators, classes) have no normal form: ValueError."""
    if depth > MAX_DEPTH:
        raise ValueError("too deep")
    if x is None:
        h.update(b"N")
    elif isinstance(x, str):
        data = str.__str__(x).encode("utf-8", "surrogatepass")
        h.update(b"s%d:" % len(data) + data)
    elif isinstance(x, complex):
        if x.imag == 0:
            _feed(h, x.real, depth)
        else:
            h.update(b"c")
            _feed(h, x.real, depth)
            _feed(h, x.imag, depth)
    elif isinstance(x, float):
        # NaN equals nothing (a value from another process is never the same object): a fresh salt
        h.update(b"nan" + os.urandom(8) if x != x else b"i%x;" % int(x) if x.is_integer() else b"f" + repr(float(x)).encode() + b";")
    elif isinstance(x, int):
        h.update(b"i%x;" % int(x))
    elif isinstance(x, (bytes, bytearray)):
        h.update(b"b%d:" % len(x) + bytes(x))
    elif isinstance(x, (list, tuple)):
        h.update(b"l[" if isinstance(x, list) else b"t[")
        for item in (list.__iter__(x) if isinstance(x, list) else tuple.__iter__(x)):
            _feed(h, item, depth + 1)
        h.update(b"]")
    elif isinstance(x, (set, frozenset, dict)):
        items = dict.items(x) if isinstance(x, dict) else ((i,) for i in x)
        parts = sorted(digest_of(item, depth + 1) for item in items)
        h.update(b"d{" if isinstance(x, dict) else b"s{")
        h.update("".join(parts).encode() + b"}")
    else:
        raise ValueError(f"no normal form for {type(x).__name__}")


def digest_of(items: tuple, depth: int) -> str:
    h = hashlib.sha256()
    for item in items:
        _feed(h, item, depth)
    return h.hexdigest()


def digest(x) -> str:
    """Equal digests: equal values (under ==, NaN aside); ValueError for types without a normal form."""
    h = hashlib.sha256()
    _feed(h, x)
    return h.hexdigest()


# ---------------------------------------------------------------- the scorer's side
class Opaque:
    """An object of a type the scorer does not rebuild: equal to nothing but itself, as in EvalPlus."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self):
        return f"<{self.type_name} object>"


class Iterated(Opaque):
    """A non-container iterable (generator, map, range, deque): iterable again, equal to nothing."""

    def __init__(self, items: list):
        super().__init__("iterable")
        self.items = items

    def __iter__(self):
        return iter(self.items)


SUBCLASSES = {base: type(f"sub_{base.__name__}", (base,), {})
              for base in (int, float, str, list, tuple, dict, set, frozenset, complex, bytes)}


def decode(data):
    """The scorer's own objects for encoded data (numpy is imported only when the data holds numpy)."""
    if isinstance(data, list):
        return [decode(i) for i in data]
    if not isinstance(data, dict):
        return data
    tag, v = data.get(TAG), data.get("v")
    if tag == "tuple":
        return tuple(decode(i) for i in v)
    if tag in ("set", "frozenset"):
        return (set if tag == "set" else frozenset)(decode(i) for i in v)
    if tag == "dict":
        return {decode(k): decode(val) for k, val in v}
    if tag == "int":
        return int(v, 16)
    if tag == "complex":
        return complex(*v)
    if tag in ("bytes", "bytearray"):
        return (bytes if tag == "bytes" else bytearray)(v.encode("latin-1"))
    if tag in ("ndarray", "npscalar"):
        import numpy

        dtype = numpy.dtype(data["dtype"])
        if dtype.kind not in "biufcUS":
            return Opaque(f"numpy {dtype}")
        array = numpy.array(decode(v), dtype=dtype).reshape(data["shape"])
        return array if tag == "ndarray" else array[()]
    if tag == "sub":
        value = decode(v)
        return value if type(value) is bool else SUBCLASSES[type(value)](value)
    if tag == "iter":
        return Iterated([decode(i) for i in v])
    if tag == "opaque":
        return Opaque(str(data.get("type")))
    raise ValueError(f"unknown tag {tag!r}")


def loads(text: str):
    return decode(json.loads(text))
