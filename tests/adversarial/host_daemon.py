"""Leave a process running after the program ends (double fork, new session, detached from the pipes)."""
import os
import sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execv("/bin/sleep", ["sleep", sys.argv[1]])
    os._exit(0)
print("spawned; the test looks for it on the host")
