"""Hold more memory than the limit in /dev/shm, in a shared anonymous mapping or in a memfd."""
import mmap
import os
import sys
mb = int(sys.argv[1])
chunk = b"x" * 2**20


def shm():
    with open("/dev/shm/fill", "wb") as f:
        for _ in range(mb):
            f.write(chunk)


def shared_mapping():
    m = mmap.mmap(-1, mb * 2**20, flags=mmap.MAP_SHARED)
    for i in range(0, mb * 2**20, 4096):
        m[i] = 1


def memfd():
    fd = os.memfd_create("fill")
    for _ in range(mb):
        os.write(fd, chunk)


for attack in (shm, shared_mapping, memfd):
    try:
        attack()
        print("ESCAPED held", mb, "MiB through", attack.__name__)
    except (OSError, ValueError, MemoryError) as e:
        print(attack.__name__, "blocked:", e)
