"""Write more bytes than the sandbox's disk allows, to the work directory and /tmp."""
import sys
mb, chunk = int(sys.argv[1]), b"x" * 2**20
for path in ("fill", "/tmp/fill2"):
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(chunk)
print("ESCAPED wrote", 2 * mb, "MiB")
