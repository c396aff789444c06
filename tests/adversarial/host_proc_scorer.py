"""See the scorer: its /proc/<pid> (cmdline, files) or any process outside the sandbox."""
import os
import sys
scorer = sys.argv[1]
if os.path.exists(f"/proc/{scorer}"):
    print("ESCAPED /proc of the scorer is visible")
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        continue
    if b"pytest" in cmd or b"run_attacks" in cmd:
        print("ESCAPED sees", pid, cmd[:60])
