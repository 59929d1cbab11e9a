"""Standard test functions for optimizer benchmarks, with their bounds and known minima.

Each `TestFunction` takes assignments (a dict, as a suggestion carries them) and returns
the value to minimize, so the quality loop feeds suggestions straight in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TestFunction:
    """A minimization benchmark over a box."""

    __test__ = False  # not a pytest class, despite the name

    name: str
    bounds: dict[str, tuple[float, float]]
    minimum: float
    fn: Callable[[Mapping[str, float]], float]

    def __call__(self, assignments: Mapping[str, float]) -> float:
        return self.fn(assignments)

    def parameters(self) -> list[dict[str, object]]:
        """SigOpt parameter definitions (double, with bounds) for this function."""
        return [
            {"name": name, "type": "double", "bounds": {"min": low, "max": high}}
            for name, (low, high) in self.bounds.items()
        ]


def _branin(a: Mapping[str, float]) -> float:
    x1, x2 = float(a["x1"]), float(a["x2"])
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def _hartmann6(a: Mapping[str, float]) -> float:
    x = np.array([float(a[f"x{i}"]) for i in range(1, 7)])
    inner = np.sum(_H6_A * (x - _H6_P) ** 2, axis=1)
    return float(-np.sum(_H6_ALPHA * np.exp(-inner)))


branin = TestFunction(
    name="branin",
    bounds={"x1": (-5.0, 10.0), "x2": (0.0, 15.0)},
    minimum=0.397887,
    fn=_branin,
)

hartmann6 = TestFunction(
    name="hartmann6",
    bounds={f"x{i}": (0.0, 1.0) for i in range(1, 7)},
    minimum=-3.32237,
    fn=_hartmann6,
)

FUNCTIONS = {f.name: f for f in (branin, hartmann6)}
