"""Objectives for the `async` and `process` example configs (and a few tests).

Each takes the suggestion's assignments (a dict) and returns a number or a dict of metrics.
"""

from __future__ import annotations

import math
from typing import Any

import anyio


def branin(x1: float, x2: float) -> float:
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


async def branin_async(assignments: dict[str, Any]) -> float:
    """An I/O-bound-looking objective: waits a little, then answers (minimize)."""
    await anyio.sleep(0.05)
    return branin(float(assignments["x1"]), float(assignments["x2"]))


def rosenbrock_cpu(assignments: dict[str, Any]) -> dict[str, float]:
    """CPU-bound work for the process pool: a Rosenbrock value plus a stored metric."""
    xs = [float(assignments[f"x{i}"]) for i in range(4)]
    value = sum(100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(3))
    # Burn a little CPU the way a real model fit would, deterministically.
    acc = 0.0
    for k in range(200_000):
        acc += math.sin(k * 1e-3)
    return {"rosenbrock": value, "work_checksum": round(acc, 3)}
