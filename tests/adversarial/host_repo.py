"""Read the repository (code, configs, results) the scorer runs from."""
import sys
print("ESCAPED", open(sys.argv[1]).read()[:20])
