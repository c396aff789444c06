"""Leave a file on the host: in the job's own host directory and beside it; find /usr or /etc writable
(checked without writing)."""
import os
import sys
for path in sys.argv[1:3]:
    try:
        open(path, "w").write("escaped")
    except OSError:
        pass
for path in ("/usr", "/usr/bin", "/etc"):
    if os.access(path, os.W_OK):
        print("ESCAPED writable", path)
print("wrote what could be written; the test looks on the host")
