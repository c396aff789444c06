"""kill(-1, SIGKILL): every process this uid may signal, i.e. the rest of the run."""
import os
import signal
import time
time.sleep(0.5)  # let the sibling sandbox start
os.kill(-1, signal.SIGKILL)
