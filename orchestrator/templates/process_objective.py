"""The objective of tune.yaml (`workers.function: objective:evaluate`), written by
`orchestrator init`.

Each of `workers.count` worker processes imports this module from the config's folder and
calls `evaluate` once per suggestion: right for CPU-bound Python, which threads would not
run in parallel. A timeout kills the process. An exception is reported as a failed
observation, with its message, and the run goes on. Replace the body with your own.
"""

from __future__ import annotations

import math
import time


def branin(x1: float, x2: float) -> float:
    """A stand-in objective: the Branin function (its minimum is 0.397887)."""
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def evaluate(assignments: dict[str, float]) -> dict[str, float]:
    """`assignments` maps each parameter of tune.yaml to this suggestion's value; the
    result maps each metric of tune.yaml to a number."""
    time.sleep(0.5)  # stands in for the real computation
    return {"loss": branin(assignments["x1"], assignments["x2"])}
