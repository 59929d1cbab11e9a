"""The benchmarks' own machinery, run small: the timed runs must drive the real
coordinator and embedded service end to end and time what they say they time; the
quality runs must run what their labels say."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import sys
import warnings

import pytest

from benchmarks.functions import FUNCTIONS
from benchmarks.overhead import coordinated_rate
from benchmarks.quality import _curve, run_optuna
from benchmarks.subprocess_workers import (
    coordinated_wall_s,
    pidfd_child_watcher,
    pidfd_floor_wall_s,
)
from benchmarks.utilization import coordinated_run
from workers.subprocess import pidfds_work


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


@pytest.mark.skipif(
    sys.version_info >= (3, 12) or not pidfds_work(),
    reason="the pidfd floor row exists for Python 3.11 with pidfds only",
)
async def test_pidfd_floor_runs_under_the_pidfd_watcher_and_restores_the_old() -> None:
    def watcher() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return asyncio.get_child_watcher()

    before = watcher()
    with pidfd_child_watcher() as switched:
        assert switched and isinstance(watcher(), asyncio.PidfdChildWatcher)
    assert watcher() is before
    wall = await pidfd_floor_wall_s(8, 2)
    assert wall is not None and wall > 0
    assert watcher() is before


def test_optuna_reference_with_pending_trials() -> None:
    """`optuna_tpe@8` runs Optuna's TPE with 8 trials pending: a full curve, and other
    draws than the sequential run of the same seed (pending trials change the asks)."""
    sequential = _curve(("optuna_tpe", "branin", 24, 3))
    pending = _curve(("optuna_tpe@8", "branin", 24, 3))
    branin = FUNCTIONS["branin"]
    assert pending == run_optuna(branin, "optuna_tpe", budget=24, seed=3, open_trials=8)
    assert len(pending) == len(sequential) == 24
    assert all(a >= b for a, b in itertools.pairwise(pending))
    assert pending != sequential


def test_gp_rows_need_torch_and_name_their_open_count() -> None:
    """Every GP row (ours at 1, 4, 8 open; Optuna's) is skipped with the reason when torch
    is missing, and only then; TPE rows never need it."""
    from benchmarks.quality import ENGINES, engine_status

    gp_rows = [e for e in ENGINES if "gp" in e]
    assert gp_rows == ["ours_gp@1", "ours_gp@4", "ours_gp@8", "optuna_gp"]
    has_torch = importlib.util.find_spec("torch") is not None
    for engine in ENGINES:
        status = engine_status(engine)
        if engine in gp_rows and not has_torch:
            assert status is not None and "torch" in status
        else:
            assert status is None


def test_each_of_our_rows_runs_its_engine_and_open_count() -> None:
    from benchmarks.quality import ENGINES, engine_plan

    ours = [e for e in ENGINES if not e.startswith("optuna_")]
    assert {e: engine_plan(e) for e in ours} == {
        "ours@1": ("offline", 1, False),
        "ours@4": ("offline", 4, False),
        "ours@8": ("offline", 8, False),
        "ours_gp@1": ("offline", 1, True),
        "ours_gp@4": ("offline", 4, True),
        "ours_gp@8": ("offline", 8, True),
        "random": ("random", 1, False),
    }
    with pytest.raises(ValueError, match="ourz@4"):
        engine_plan("ourz@4")


def test_parallel_checks_compare_per_seed_bests_and_skip_rows_not_run() -> None:
    """ours@8 far below Optuna's 8-pending row on every seed is a win; without torch the
    GP pair says "not run" and is left out of its tally."""
    from benchmarks.quality import parallel_table

    low, high = [0.01 * i for i in range(10)], [1.0 + 0.01 * i for i in range(10)]
    result = {
        "f": {
            "engines": {
                "ours@8": {"bests": low},
                "optuna_tpe@8": {"bests": high},
                "ours@1": {"bests": low},
                "ours_gp@8": {"status": "not installed: torch (the `gp` extra)"},
            }
        }
    }
    table = parallel_table(result)
    assert "| f | win (p=" in table and "| not run |" in table
    assert "ours@8 ties or beats optuna_tpe@8 on 1/1" in table
    assert "ours_gp@8 ties or beats ours@1 on 0/0" in table
    result["f"]["engines"]["ours@8"]["bests"] = [v + 2 for v in high]
    assert "| f | loss (p=" in parallel_table(result)
