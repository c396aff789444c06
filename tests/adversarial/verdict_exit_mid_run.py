"""Ends its process with status 0 on the first test, so no test result is ever reported; passes only
if tests that did not run count as passed."""
import ctypes


def _attack(*args):
    ctypes.CDLL(None)._exit(0)
