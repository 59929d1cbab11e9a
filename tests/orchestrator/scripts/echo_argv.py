"""Record this process's argv (after the script) as JSON in its evaluation folder, then
report a metric. Used to prove hostile values arrive as plain arguments."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

folder = Path(os.environ["SIGOPT_ASSIGNMENTS_FILE"]).parent
(folder / "argv.json").write_text(json.dumps(sys.argv[1:]))
print(json.dumps({"value": 1.0}))
