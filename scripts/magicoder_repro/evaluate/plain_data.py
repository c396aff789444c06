"""Python values as plain JSON data, so a verdict can be computed outside the program that made them.

A sandboxed child encodes what the code under test returned; the trusted scorer decodes it into
objects of its own (built-in types, numpy arrays and scalars, and stand-ins for everything else) and
compares those with the expected outputs. Nothing the sample defined (a class, an `__eq__`, a patched
module) survives the trip. Exact types are kept where EvalPlus's comparison looks at them
(`type(out) == type(exp)`, `isinstance(out, bool)`), so honest values compare as they would in EvalPlus.
Standard library only: this file is copied into the sandbox next to the child harness.
"""
import hashlib
import io
import itertools
import json
import pickle
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
    if t in EXACT:
        return EXACT[t](x, depth + 1)
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(x, (numpy.ndarray, numpy.generic)):
        kind = "ndarray" if isinstance(x, numpy.ndarray) else "npscalar"
        return {TAG: kind, "dtype": x.dtype.str, "shape": list(numpy.shape(x)), "v": encode(x.tolist(), depth + 1)}
    for base in (bool, int, float, str, list, tuple, dict, set, frozenset, complex, bytes):
        if isinstance(x, base):  # an IntEnum, a namedtuple, an OrderedDict: equal as its base, not its type
            return {TAG: "sub", "v": encode(base(x), depth + 1)}
    return _encode_iterable(x, depth + 1)


def _encode_iterable(x, depth: int):
    """The items a non-container iterable yields (a generator, a map), or the opaque type name."""
    try:
        it = iter(x)
    except Exception:
        return {TAG: "opaque", "type": getattr(type(x), "__name__", "?")}
    items = []
    try:
        for item in it:
            if len(items) == MAX_ITEMS:
                raise Unencodable("iterator yields too many items")
            items.append(encode(item, depth))
    except Unencodable:
        raise
    except Exception as e:
        raise Unencodable(f"iterating the value raised {type(e).__name__}")
    return {TAG: "iter", "v": items}


# Exact built-in types other than None, bool, str and float (which are themselves): type -> encoder.
EXACT = {
    int: lambda x, d: x if x.bit_length() < BIG_INT_BITS else {TAG: "int", "v": hex(x)},
    list: lambda x, d: [encode(i, d) for i in x],
    **{t: (lambda x, d, name=name: {TAG: name, "v": [encode(i, d) for i in x]}) for t, name in CONTAINERS.items()},
    dict: lambda x, d: {TAG: "dict", "v": [[encode(k, d), encode(v, d)] for k, v in x.items()]},
    complex: lambda x, d: {TAG: "complex", "v": [x.real, x.imag]},
    bytes: lambda x, d: {TAG: "bytes", "v": x.decode("latin-1")},
    bytearray: lambda x, d: {TAG: "bytearray", "v": x.decode("latin-1")},
}


def dumps(x) -> str:
    return json.dumps(encode(x), separators=(",", ":"))


# ---------------------------------------------------------------- large values travel as a digest
RIGID = {type(None), str, bytes, int, list, tuple}  # exact types whose == is the equality of their pickles
SEQUENCES = {list, tuple}
NUMBERS = {bool, int, float, complex}


class NoNormalForm(ValueError):
    """A value the digest cannot stand for (numpy, an iterator, a class, NaN, too deep)."""


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


def _level_types(level: list) -> set:
    """The exact types of the items of a level's containers. A level of strings is deduplicated first
    (hashing a string is cheaper than type()), which hides a type only behind an equal value of another:
    a number (so a level with numbers is typed item by item) or a subclass (which the pickler refuses)."""
    items = itertools.chain.from_iterable(level)
    if type(next(items, None)) in (str, bytes):
        try:
            types = set(map(type, set(itertools.chain.from_iterable(level))))
        except TypeError:  # unhashable items (lists, dicts, sets)
            types = NUMBERS
        if not types & NUMBERS:
            return types
    return set(map(type, itertools.chain.from_iterable(level)))


def _rigid(x) -> bool:
    """Whether x holds RIGID types alone, checked a level at a time at C speed (an output of Mbpp/255
    holds 10^8 strings); the leaves are never gathered into a list."""
    if type(x) not in RIGID:
        return False
    level = [x] if type(x) in SEQUENCES else []
    for _ in range(MAX_DEPTH):
        if not level:
            return True
        types = _level_types(level)
        if not types <= RIGID:
            return False
        items = itertools.chain.from_iterable(level)
        level = (list(items) if types <= SEQUENCES else
                 [c for c in items if type(c) in SEQUENCES] if types & SEQUENCES else [])
    return False


def _canonical(x, depth: int = 0, shortcut: bool = True):
    """A value of RIGID types (and tagged tuples) whose pickle is equal exactly where x is equal under ==:
    Python's cross-type equalities folded in (1 == 1.0 == True, a set and a frozenset, a namedtuple and
    its tuple, dict and set order). Tags start with True, which nothing folded holds. `shortcut` takes a
    value the level check passes as it is."""
    if depth > MAX_DEPTH:
        raise NoNormalForm("value nested too deeply")
    if x is None or shortcut and _rigid(x):
        return x
    if isinstance(x, str):
        return str.__str__(x)
    if isinstance(x, (bytes, bytearray)):
        return bytes(x)
    if isinstance(x, int):
        return int(x)
    if isinstance(x, (float, complex)):
        return _number(complex(x))
    inner = lambda i: _canonical(i, depth + 1, shortcut)  # noqa: E731
    if isinstance(x, list):
        return [inner(i) for i in list.__iter__(x)]
    if isinstance(x, tuple):
        return tuple(inner(i) for i in tuple.__iter__(x))
    if isinstance(x, (set, frozenset)):
        return (True, "set", sorted(_pickle(inner(i)) for i in x))
    if isinstance(x, dict):
        return (True, "dict", sorted((_pickle(inner(k)), inner(v)) for k, v in dict.items(x)))
    raise NoNormalForm(f"no normal form for {type(x).__name__}")


def _number(z: complex):
    """An int where the number is integral, else a float or a tagged complex; NaN equals nothing."""
    if z != z:
        raise NoNormalForm("NaN")
    if z.imag == 0:
        return int(z.real) if z.real.is_integer() else z.real
    return (True, "complex", z.real + 0.0, z.imag + 0.0)  # -0.0 is 0.0


class _Hidden(NoNormalForm):
    """A type pickle does not write natively, met where the level check saw none."""


class _Pickler(pickle.Pickler):
    """Pickles with no memo (sharing between parts does not show) and only pickle's natively written
    exact built-in types: anything else would be written by reduction code of its own."""

    def reducer_override(self, obj):
        raise _Hidden(type(obj).__name__)


def _pickle(x, file=None) -> bytes | None:
    out = io.BytesIO() if file is None else file
    pickler = _Pickler(out, protocol=5)
    pickler.fast = True
    pickler.dump(x)
    return out.getvalue() if file is None else None


class _Sha256:
    """A file that hashes what is written to it: the pickle streams in frames, never whole."""

    def __init__(self):
        self.hash = hashlib.sha256()
        self.write = self.hash.update


def digest(x) -> str:
    """Equal digests: equal values under == (NaN aside: it equals nothing), at C speed for values of
    RIGID types; NoNormalForm for values it cannot stand for."""
    for shortcut in (True, False):
        sink = _Sha256()
        try:
            _pickle(_canonical(x, shortcut=shortcut), sink)
            return sink.hash.hexdigest()
        except _Hidden:  # a subclass the level check let through: fold the value without it
            continue
        except RecursionError:
            raise NoNormalForm("value nested too deeply")
    raise NoNormalForm("a subclass that pickles as its own type")


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
