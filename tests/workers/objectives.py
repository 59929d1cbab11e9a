"""Objective functions the worker tests import by name (`tests.workers.objectives:fn`).

Kept free of heavy imports: process-pool children and subprocess scripts import this
module on every start.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any


def quadratic(assignments: dict[str, Any]) -> float:
    """The metric is x**2 + y, so a test knows the value to expect."""
    return float(assignments["x"]) ** 2 + float(assignments.get("y", 0.0))


async def quadratic_async(assignments: dict[str, Any]) -> float:
    return quadratic(assignments)


def raises(assignments: dict[str, Any]) -> float:
    raise ValueError(f"x={assignments['x']} is out of range")


def nan(assignments: dict[str, Any]) -> float:
    return float("nan")


def two_values(assignments: dict[str, Any]) -> dict[str, Any]:
    x = float(assignments["x"])
    return {"values": [{"name": "accuracy", "value": x}, {"name": "loss", "value": 1 - x}]}


def metric_dict(assignments: dict[str, Any]) -> dict[str, float]:
    x = float(assignments["x"])
    return {"accuracy": x, "latency": 10 * x}


def slow(assignments: dict[str, Any]) -> float:
    """Sleeps `sleep_s` (default 2) after writing its pid to `pid_file` if given.

    Sleeps in short steps: a cancelled thread cannot be killed, so it must end soon by
    itself or it would keep the test run from exiting.
    """
    pid_file = assignments.get("pid_file")
    if pid_file:
        with open(str(pid_file), "w") as f:
            f.write(str(os.getpid()))
    deadline = time.monotonic() + float(assignments.get("sleep_s", 2.0))
    while time.monotonic() < deadline:
        time.sleep(0.02)
    return quadratic(assignments)


def thread_name(assignments: dict[str, Any]) -> dict[str, float]:
    """Reports whether it ran outside the main thread (1.0) or in it (0.0)."""
    in_thread = threading.current_thread() is not threading.main_thread()
    return {"in_thread": 1.0 if in_thread else 0.0}


def hard_exit(assignments: dict[str, Any]) -> float:
    os._exit(3)


def returns_unpicklable(assignments: dict[str, Any]) -> Any:
    return lambda: None


not_callable = 42
