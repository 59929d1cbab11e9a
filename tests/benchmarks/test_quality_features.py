"""The quality benchmark's feature functions (issue 15): their known minima hold, each
engine runs what its label says, and the tables show them apart from the suite."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from benchmarks.quality import table
from benchmarks.quality.features import (
    FEATURE_ENGINES,
    FEATURES,
    FeatureFunction,
    conditional_architectures,
    constrained_branin,
    run_feature,
)
from benchmarks.quality.summary import run


def test_constrained_minimum_is_the_feasible_minimum() -> None:
    """No feasible point of a fine grid beats the stated minimum, and one comes close."""
    xs, ys = np.meshgrid(np.linspace(-5, 10, 301), np.linspace(0, 15, 301))
    values = []
    for x1, x2 in zip(xs.ravel(), ys.ravel(), strict=True):
        point = {"x1": float(x1), "x2": float(x2)}
        if constrained_branin.is_feasible(point):
            values.append(constrained_branin.fn(point))
    assert min(values) >= constrained_branin.minimum - 1e-9
    assert min(values) - constrained_branin.minimum < 0.01
    assert constrained_branin.fn({"x1": 3.1231, "x2": 1.8769}) == pytest.approx(
        constrained_branin.minimum, abs=1e-3
    )


def test_conditional_minimum_is_reached_in_the_tree_branch() -> None:
    best = {"arch": "tree", "lr": 0.7, "depth": 11, "subsample": 0.8}
    assert conditional_architectures.fn(best) == 0.0
    mlp = {"arch": "mlp", "lr": 0.25, "width": 40, "dropout": 0.3}
    assert conditional_architectures.fn(mlp) == pytest.approx(0.3)


@pytest.mark.parametrize(("function", "engine"), list(itertools.product(FEATURES, FEATURE_ENGINES)))
def test_each_engine_runs(function: FeatureFunction, engine: str) -> None:
    """A full best-so-far curve; ours and random never suggest an infeasible point, so
    their first evaluation already counts."""
    curve = run_feature(function, engine, seed=1)
    assert len(curve) == function.budget
    assert all(a >= b for a, b in itertools.pairwise(curve))
    if engine != "optuna_tpe":
        assert not math.isinf(curve[0])


@pytest.mark.slow
def test_tables_show_features_apart() -> None:
    """The whole quick run of one feature function (10 seeds, in the process pool)."""
    result = run(full=False, functions=["constrained_branin"])
    case = result["constrained_branin"]
    assert case["feature"] == "linear_constraints"
    assert set(case["engines"]) == set(FEATURE_ENGINES)
    text = table(result)
    assert "| constrained_branin | linear_constraints | 40 |" in text
    assert "ours@4 vs random: best" not in text  # the suite's summary is not drawn
