"""Objectives the coordinator tests run, importable as `tests.orchestrator.objectives:fn`."""

from __future__ import annotations

import math
import os
from typing import Any

import anyio


class Concurrency:
    """How many evaluations run at once in this process, and the peak seen."""

    running = 0
    peak = 0

    @classmethod
    def reset(cls) -> None:
        cls.running = cls.peak = 0


async def sleepy(assignments: dict[str, Any]) -> float:
    Concurrency.running += 1
    Concurrency.peak = max(Concurrency.peak, Concurrency.running)
    try:
        await anyio.sleep(0.03)
    finally:
        Concurrency.running -= 1
    return float(assignments["x"])


async def constant(assignments: dict[str, Any]) -> float:
    return 1.0


def by_kind(assignments: dict[str, Any]) -> Any:
    """Fails in the way the `kind` categorical says, else returns x (process-pool safe)."""
    kind = assignments.get("kind", "ok")
    if kind == "raise":
        raise RuntimeError("objective exploded")
    if kind == "nan":
        return math.nan
    if kind == "hang":
        import time

        time.sleep(60)
    return float(assignments["x"])


async def always_fails(assignments: dict[str, Any]) -> float:
    raise ValueError("broken objective")


async def wrong_metric(assignments: dict[str, Any]) -> dict[str, float]:
    return {"not_the_metric": 1.0, "other": 2.0}


def pid_and_x(assignments: dict[str, Any]) -> float:
    return float(os.getpid() % 7) + float(assignments["x"])


def by_kind_scored(assignments: dict[str, Any]) -> dict[str, float]:
    """`by_kind`, its value named `score`."""
    return {"score": by_kind(assignments)}


async def always_fails_at_length(assignments: dict[str, Any]) -> float:
    """Fails with a message far wider than 80 columns."""
    raise ValueError("the objective failed, " * 8)
