"""Read the scorer's ~/.cache (tokens) and talk to a unix socket a host service keeps there."""
import os
import socket
import sys
cache, sock = sys.argv[1], sys.argv[2]
try:
    print("ESCAPED lists", cache, os.listdir(cache)[:3])
except OSError:
    pass
try:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(b"escaped")
    print("ESCAPED connected", sock)
except OSError:
    pass
