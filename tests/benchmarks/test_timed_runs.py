"""The speed benchmarks' own machinery, run small: each must drive the real coordinator
and embedded service end to end, and time what it says it times."""

from __future__ import annotations

import asyncio
import warnings

from benchmarks.overhead import coordinated_rate
from benchmarks.subprocess_workers import coordinated_wall_s, pidfd_floor_wall_s
from benchmarks.utilization import coordinated_run


async def test_utilization_run_times_every_report() -> None:
    run = await coordinated_run("random", evaluations=24, workers=4)
    assert 0 < run["utilization"] <= 1
    # Each slot's first suggestion is asked alone; the rest come with the 24 reports.
    assert run["suggest"]["count"] == 4 and run["report"]["count"] == 24


async def test_overhead_and_subprocess_runs_complete() -> None:
    rate = await coordinated_rate(2, 40)
    assert rate["per_s"] > 0
    assert await coordinated_wall_s(8, 2) > 0
    assert await coordinated_wall_s(8, 2, evaluation_folders=True) > 0


async def test_pidfd_floor_runs_and_restores_the_watcher() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        before = asyncio.get_child_watcher()
    wall = await pidfd_floor_wall_s(8, 2)
    assert wall is None or wall > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert asyncio.get_child_watcher() is before
