"""Read the scorer's environment: the fake API key the test set, from /proc/*/environ or our own."""
import os
import sys
secret = sys.argv[1].encode()
if secret in b"".join(k.encode() + v.encode() for k, v in os.environ.items()):
    print("ESCAPED own environment")
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if secret in open(f"/proc/{pid}/environ", "rb").read():
            print("ESCAPED /proc", pid, "environ")
    except OSError:
        pass
