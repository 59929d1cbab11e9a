"""`python -m benchmarks.soak`: run the soak (see the package docstring)."""

import sys

from benchmarks.soak import main

if __name__ == "__main__":
    sys.exit(main())
