"""Start more processes than the limit allows (each just sleeps)."""
import os
import sys
want, started = int(sys.argv[1]), 0
for _ in range(want):
    try:
        if os.fork() == 0:
            import time
            time.sleep(30)
            os._exit(0)
        started += 1
    except OSError:
        break
if started == want:
    print("ESCAPED started", started)
