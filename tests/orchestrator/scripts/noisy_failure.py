"""A command for the failure-visibility tests: `--mode` says how it ends.

- `ok`: prints `{"value": x}`.
- `crash`: writes a traceback to stderr (its last line naming a missing module) and exits 1.
- `wrong_name`: writes to stderr, then prints a metric of the wrong name, exit 0.
"""

from __future__ import annotations

import json
import sys

mode, x = sys.argv[1], float(sys.argv[2])
if mode == "ok":
    print(json.dumps({"value": x}))
elif mode == "crash":
    print("Traceback (most recent call last):", file=sys.stderr)
    print('  File "train.py", line 3, in <module>', file=sys.stderr)
    print("[red]not markup[/red]", file=sys.stderr)
    print("ModuleNotFoundError: No module named 'sklearn'", file=sys.stderr)
    sys.exit(1)
else:
    print("loading data", file=sys.stderr)
    print(json.dumps({"score": x}))
