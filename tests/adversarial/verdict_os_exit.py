"""Ends its process with status 0 before any test runs; passes only if the verdict is read from a
clean exit instead of from the tests' results."""
import os

os._exit(0)


def _attack(*args):
    return object()
