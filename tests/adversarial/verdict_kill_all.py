"""kill(-1, SIGKILL) when loaded: every process it may signal dies. Scores nothing itself; the test
checks that the other samples' verdicts survive it (in EvalPlus 0.3.1 under one sandbox they did not)."""
import ctypes

libc = ctypes.CDLL(None)
libc.kill(-1, 9)
libc.kill(0, 9)


def _attack(*args):
    return object()
