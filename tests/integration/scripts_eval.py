"""Subprocess objective for the CLI tests: sleeps `--sleep` seconds, then prints the value.

Writes its pid to `<pids dir>/<pid>` first, so the test can check nothing outlives the run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--sleep", type=float, default=0.2)
parser.add_argument("--pids", type=Path, required=True)
args = parser.parse_args()
args.pids.mkdir(parents=True, exist_ok=True)
(args.pids / str(os.getpid())).write_text("")
time.sleep(args.sleep)
print(json.dumps({"value": args.x}))
