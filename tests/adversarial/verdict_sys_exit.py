"""Raises SystemExit(0) when loaded and, if still called, again on the first test; passes only if a
clean exit counts as a pass."""
import sys

try:
    sys.exit(0)
except SystemExit:
    pass


def _attack(*args):
    raise SystemExit(0)
