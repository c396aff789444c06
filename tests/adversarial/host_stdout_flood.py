"""Flood stdout and stderr so the scorer buffers it all."""
import os
import sys
chunk = b"y" * 2**20
for _ in range(int(sys.argv[1])):
    os.write(1, chunk)
    os.write(2, chunk)
