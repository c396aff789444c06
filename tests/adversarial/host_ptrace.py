"""Attach to the scorer with ptrace and open its memory through /proc/<pid>/mem."""
import ctypes
import os
import sys
scorer = int(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
if libc.ptrace(0x4206, scorer, None, None) == 0:  # PTRACE_SEIZE: attaches without stopping it
    print("ESCAPED ptrace attached to", scorer)
try:
    os.close(os.open(f"/proc/{scorer}/mem", os.O_RDONLY))
    print("ESCAPED opened the scorer's memory")
except OSError:
    pass
