"""Link out of the work directory to a host file (the repo's README, /etc/passwd) and read through it."""
import os
import sys
for target in (sys.argv[1], "/etc/passwd", "/etc/hostname"):
    link = f"link-{os.path.basename(target)}"
    os.symlink(target, link)
    try:
        print("ESCAPED read", target, open(link).read()[:10])
    except OSError:
        pass
