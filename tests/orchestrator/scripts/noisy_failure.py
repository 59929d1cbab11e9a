"""A command for the failure-visibility tests: `--mode` says how it ends.

- `ok`: prints `{"value": x}`.
- `crash`: writes a traceback to stderr (its last line naming a missing module) and exits 1.
- `wrong_name`: writes to stderr, then prints a metric of the wrong name, exit 0.
- `plant_link`: leaves a symlink named like the outcome file's temporary file in its
  evaluation folder, pointing at `$VICTIM`, then prints `{"value": x}`.
"""

from __future__ import annotations

import json
import os
import sys

mode, x = sys.argv[1], float(sys.argv[2])
if mode == "ok":
    print(json.dumps({"value": x}))
elif mode == "plant_link":
    folder = os.path.dirname(os.environ["SIGOPT_RESULT_FILE"])
    os.symlink(os.environ["VICTIM"], os.path.join(folder, ".outcome.json.tmp"))
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
