"""Find a writable /proc/sys knob (host root would be able to retune the kernel). Opens for writing, never writes."""
import os
for path in ("/proc/sys/kernel/hostname", "/proc/sys/vm/drop_caches", "/proc/sys/kernel/core_pattern"):
    if os.access(path, os.W_OK):
        print("ESCAPED writable", path)
    try:
        os.close(os.open(path, os.O_WRONLY))
        print("ESCAPED opened for writing", path)
    except OSError:
        pass
