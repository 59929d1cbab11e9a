"""An objective whose module takes `IMPORT_S` to import, like one importing torch or
scikit-learn: every fresh process-pool child pays that before the objective can run."""

from __future__ import annotations

import time
from typing import Any

IMPORT_S = 1.0
time.sleep(IMPORT_S)


def instant(assignments: dict[str, Any]) -> float:
    return float(assignments["x"])
