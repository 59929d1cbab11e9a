"""Objectives the benchmarks evaluate through `AsyncFunctionWorker` ("benchmarks.objectives:...").

Both are `async def`, so they run on the event loop and cost the coordinator nothing but
their own await: what the benchmarks measure is the machinery around them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio

EVALUATION_S = 0.1


def _value(assignments: Mapping[str, Any]) -> float:
    # Depends on the point, so a model-based engine has something to fit.
    a = float(assignments.get("a", 0.0))
    c = float(assignments.get("c", 0.0))
    return (a - 0.3) ** 2 + (c - 4.0) ** 2 / 10.0


async def sleep_100ms(assignments: Mapping[str, Any]) -> float:
    """A 0.1 s evaluation that keeps no CPU busy: the ideal run is pure waiting."""
    await anyio.sleep(EVALUATION_S)
    return _value(assignments)


async def noop(assignments: Mapping[str, Any]) -> float:
    """An evaluation that costs nothing: what remains is the orchestration overhead."""
    return 1.0
