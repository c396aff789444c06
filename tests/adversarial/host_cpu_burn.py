"""Spin on the CPU past the CPU-time limit."""
import time
t = time.process_time()
while time.process_time() - t < 30:
    pass
print("ESCAPED burned 30 CPU seconds")
