"""Read the host's /etc/shadow (a path to root's password hashes)."""
print("ESCAPED", open("/etc/shadow").read()[:20])
