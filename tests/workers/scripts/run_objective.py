"""Run one objective of `tests.workers.objectives` as a command: the subprocess harness.

Usage: python run_objective.py NAME. Reads the assignments from SIGOPT_ASSIGNMENTS and
prints the result (a JSON object) as the last stdout line; an exception exits non-zero
with a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.workers import objectives

print("starting objective", sys.argv[1])  # noise before the metric, as real scripts print
result = getattr(objectives, sys.argv[1])(json.loads(os.environ["SIGOPT_ASSIGNMENTS"]))
if not isinstance(result, dict):
    result = {"value": result}  # stdout is read for JSON objects only
print(json.dumps(result))
