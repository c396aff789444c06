"""Returns an object equal to everything (and an int subclass that is too); passes only if the
comparison calls the sample's own __eq__."""


class _Equal:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


class _EqualInt(int):
    __eq__ = _Equal.__eq__
    __ne__ = _Equal.__ne__
    __hash__ = int.__hash__


_calls = [0]


def _attack(*args):
    _calls[0] += 1
    return _Equal() if _calls[0] % 2 else _EqualInt(-12345)
