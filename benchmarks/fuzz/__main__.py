"""`python -m benchmarks.fuzz`: fuzz the service (see the package docstring)."""

import sys

from benchmarks.fuzz import main

if __name__ == "__main__":
    sys.exit(main())
