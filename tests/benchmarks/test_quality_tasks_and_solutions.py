"""The quality benchmark's multitask and multisolution functions (issue 15 items 4, 5):
the functions are what their docstrings say, each engine runs what its label says, and
the summaries and tables hold every engine."""

from __future__ import annotations

import itertools
import math

import pytest

from benchmarks.functions import hartmann6
from benchmarks.quality.multisolution import (
    MINIMA,
    MULTISOLUTION_ENGINES,
    himmelblau,
    minima_hit,
    run_multisolution,
)
from benchmarks.quality.multitask import (
    BUDGET,
    MULTITASK_ENGINES,
    cheap_hartmann6,
    regret_auc,
    run_multitask,
)
from benchmarks.quality.tasks_and_solutions import (
    run_tasks_and_solutions,
    tasks_and_solutions_table,
)
from sigopt_service.models import MetricEvaluation, Observation

OPTIMUM = {
    f"x{i}": v for i, v in enumerate([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573], 1)
}


def test_the_cheap_task_is_biased() -> None:
    """At Hartmann's optimum the cheap task is off by more than its constant offset, and
    its values are not the true ones."""
    assert hartmann6.fn(OPTIMUM) == pytest.approx(hartmann6.minimum, abs=1e-4)
    assert cheap_hartmann6(OPTIMUM) - hartmann6.fn(OPTIMUM) > 0.5


def test_himmelblau_has_four_minima() -> None:
    for x, y in MINIMA:
        assert himmelblau.fn({"x": x, "y": y}) == pytest.approx(0.0, abs=1e-6)


def test_regret_per_unit_of_cost_is_the_step_functions_mean() -> None:
    """No full-cost value until cost 10 (the fallback 3 counts), then 1 until 20, then
    0.5 to the end (40): (10 * 3 + 10 * 1 + 20 * 0.5) / 40."""
    curve = [(5.0, math.inf), (10.0, 1.0), (20.0, 0.5), (40.0, 0.5)]
    assert BUDGET == 40
    assert regret_auc(curve, 3.0) == pytest.approx((30 + 10 + 10) / 40)


def test_hits_count_each_minimum_once() -> None:
    def at(x: float, y: float, value: float) -> Observation:
        evaluation = MetricEvaluation(name="value", value=value)
        return Observation(
            id="1", experiment="1", assignments={"x": x, "y": y}, values=[evaluation]
        )

    near = [at(3.0, 2.0, 0.1), at(3.1, 2.0, 0.5), at(-2.8, 3.1, 3.0)]
    assert (minima_hit(near, 1.0), minima_hit(near, 5.0)) == (1, 2)


@pytest.mark.parametrize("engine", MULTITASK_ENGINES)
def test_each_multitask_engine_spends_the_budget(engine: str) -> None:
    curve = run_multitask(engine, seed=1)
    costs = [cost for cost, _ in curve]
    assert all(a < b for a, b in itertools.pairwise(costs))
    assert BUDGET <= costs[-1] < BUDGET + 1
    assert math.isfinite(curve[-1][1])  # some full-cost observation
    if engine == "ours@4":
        assert len(curve) > BUDGET  # cheap tasks: more observations than the budget


@pytest.mark.parametrize("engine", MULTISOLUTION_ENGINES)
def test_each_multisolution_engine_runs(engine: str) -> None:
    result = run_multisolution(engine, seed=1)
    assert 0 <= result["hit"]["1.0"] <= result["hit"]["5.0"] <= 3
    assert result["best"] >= 0


@pytest.mark.slow
def test_the_tables_hold_every_engine() -> None:
    result = run_tasks_and_solutions(full=False)
    text = tasks_and_solutions_table(result)
    for engine in (*MULTITASK_ENGINES, *MULTISOLUTION_ENGINES):
        assert f"| {engine} |" in text
