"""Standard test functions for optimizer benchmarks, with their bounds and known minima.

Each `TestFunction` takes assignments (a dict, as a suggestion carries them) and returns
the value to minimize, or None where the evaluation fails (`fails`), so the quality loop
feeds suggestions straight in. Besides double parameters (`bounds`) a function may have
integer (`ints`) and categorical (`categories`) ones.

The suite (`SUITE`): Branin, Hartmann3, Hartmann6, Ackley 5-D, Rosenbrock 4-D, Levy 4-D
(definitions and minima as in Surjanovic & Bingham's "Virtual Library of Simulation
Experiments"), `mixed` (a double, an int and a categorical that shifts the double's
optimum) and `branin_failures` (Branin that fails in a band and a corner, 32% of the box).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna


@dataclass(frozen=True)
class TestFunction:
    """A minimization benchmark over a box."""

    __test__ = False  # not a pytest class, despite the name

    name: str
    bounds: dict[str, tuple[float, float]]
    minimum: float
    fn: Callable[[Mapping[str, Any]], float]
    ints: dict[str, tuple[int, int]] = field(default_factory=dict)
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: True where the evaluation fails (reported as a failed observation).
    fails: Callable[[Mapping[str, Any]], bool] | None = None

    def __call__(self, assignments: Mapping[str, Any]) -> float | None:
        if self.fails is not None and self.fails(assignments):
            return None
        return self.fn(assignments)

    @property
    def dims(self) -> int:
        return len(self.bounds) + len(self.ints) + len(self.categories)

    def parameters(self) -> list[dict[str, object]]:
        """SigOpt parameter definitions (double, int, categorical) for this function."""
        params: list[dict[str, object]] = [
            {"name": name, "type": "double", "bounds": {"min": low, "max": high}}
            for name, (low, high) in self.bounds.items()
        ]
        params += [
            {"name": name, "type": "int", "bounds": {"min": low, "max": high}}
            for name, (low, high) in self.ints.items()
        ]
        params += [
            {
                "name": name,
                "type": "categorical",
                "categorical_values": [
                    {"name": v, "enum_index": i} for i, v in enumerate(values, start=1)
                ],
            }
            for name, values in self.categories.items()
        ]
        return params

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """The same space as Optuna distributions, to run Optuna's samplers directly."""
        out: dict[str, optuna.distributions.BaseDistribution] = {
            name: optuna.distributions.FloatDistribution(low, high)
            for name, (low, high) in self.bounds.items()
        }
        for name, (ilow, ihigh) in self.ints.items():
            out[name] = optuna.distributions.IntDistribution(ilow, ihigh)
        for name, values in self.categories.items():
            out[name] = optuna.distributions.CategoricalDistribution(values)
        return out


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

_H3_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
)


def _vector(a: Mapping[str, Any], n: int) -> np.ndarray:
    return np.array([float(a[f"x{i}"]) for i in range(1, n + 1)])


def _hartmann3(a: Mapping[str, Any]) -> float:
    x = _vector(a, 3)
    inner = np.sum(_H3_A * (x - _H3_P) ** 2, axis=1)
    return float(-np.sum(_H3_ALPHA * np.exp(-inner)))


def _ackley(a: Mapping[str, Any]) -> float:
    x = _vector(a, len(a))
    d = len(x)
    return float(
        -20.0 * np.exp(-0.2 * np.sqrt(np.sum(x**2) / d))
        - np.exp(np.sum(np.cos(2 * np.pi * x)) / d)
        + 20.0
        + math.e
    )


def _rosenbrock(a: Mapping[str, Any]) -> float:
    x = _vector(a, len(a))
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (x[:-1] - 1) ** 2))


def _levy(a: Mapping[str, Any]) -> float:
    x = _vector(a, len(a))
    w = 1 + (x - 1) / 4
    head = np.sin(np.pi * w[0]) ** 2
    middle = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2)
    return float(head + middle + tail)


_MIXED_SHIFT = {"a": -2.0, "b": 1.0, "c": 3.0}
_MIXED_OFFSET = {"a": 0.5, "b": 0.0, "c": 1.0}


def _mixed(a: Mapping[str, Any]) -> float:
    # The category moves the double's optimum, so the three cannot be tuned one at a time.
    x, n, c = float(a["x"]), int(a["n"]), str(a["c"])
    return (x - _MIXED_SHIFT[c]) ** 2 + 0.25 * (n - 3) ** 2 + _MIXED_OFFSET[c]


def _branin_fails(a: Mapping[str, Any]) -> bool:
    # A band across the middle of the box (x2 in [5, 9]), plus the corner x1 > 7, x2 > 11:
    # about 32% of the box, none of Branin's three minima.
    x1, x2 = float(a["x1"]), float(a["x2"])
    return 5.0 <= x2 <= 9.0 or (x1 > 7.0 and x2 > 11.0)


hartmann3 = TestFunction(
    name="hartmann3",
    bounds={f"x{i}": (0.0, 1.0) for i in range(1, 4)},
    minimum=-3.86278,
    fn=_hartmann3,
)
ackley5 = TestFunction(
    name="ackley5",
    bounds={f"x{i}": (-32.768, 32.768) for i in range(1, 6)},
    minimum=0.0,
    fn=_ackley,
)
rosenbrock4 = TestFunction(
    name="rosenbrock4",
    bounds={f"x{i}": (-5.0, 10.0) for i in range(1, 5)},
    minimum=0.0,
    fn=_rosenbrock,
)
levy4 = TestFunction(
    name="levy4",
    bounds={f"x{i}": (-10.0, 10.0) for i in range(1, 5)},
    minimum=0.0,
    fn=_levy,
)
mixed = TestFunction(
    name="mixed",
    bounds={"x": (-5.0, 5.0)},
    ints={"n": (0, 10)},
    categories={"c": ("a", "b", "c")},
    minimum=0.0,
    fn=_mixed,
)
branin_failures = TestFunction(
    name="branin_failures",
    bounds=branin.bounds,
    minimum=branin.minimum,
    fn=_branin,
    fails=_branin_fails,
)

SUITE = (branin, hartmann3, hartmann6, ackley5, rosenbrock4, levy4, mixed, branin_failures)
FUNCTIONS = {f.name: f for f in SUITE}
