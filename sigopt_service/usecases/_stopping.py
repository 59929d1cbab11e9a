"""Stopping criteria on the store thread, as sigopt-server's
`handlers/experiments/stopping_criteria.py` computes them:

- `observation_budget_reached`: more (non-deleted) observations than `observation_budget`
  (strictly more).
- `possible_stagnation`, once there are more than `5 * dimension + 4` observations
  (dimension: the number of parameters), failed ones counting as the worst value:
  - one optimized metric: the best value of the last `5 * dimension` observations does
    not beat the 5th best value before them;
  - two optimized metrics, only once the budget is reached: the Pareto front of all
    observations is the same set of values as the front before the last `5 * dimension`;
  - no optimized metric (a search experiment): never.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sigopt_service.best import metric_value
from sigopt_service.models import Experiment, Objective, Observation
from sigopt_service.usecases._core import Core

#: No improvement over this many observations per parameter is possible stagnation.
LOOKBACK_FACTOR = 5
#: How many of the best earlier values a later value must beat.
NUM_TOP_RESULTS_TO_CHECK = 5

Point = tuple[float, ...]


def _points(experiment: Experiment, observations: Sequence[Observation]) -> list[Point]:
    """Each observation's optimized values, oriented so that larger is better, in id order;
    a failed one (or one missing a value) is -inf everywhere: it is never best."""
    metrics = experiment.optimized_metrics()
    points = []
    for observation in sorted(observations, key=lambda o: int(o.id)):
        values = [
            None if observation.failed else metric_value(experiment, observation, m)
            for m in metrics
        ]
        points.append(
            tuple(
                -math.inf if v is None else (v if m.objective is Objective.MAXIMIZE else -v)
                for m, v in zip(metrics, values, strict=True)
            )
        )
    return points


def _dominates(a: Point, b: Point) -> bool:
    return a != b and all(x >= y for x, y in zip(a, b, strict=True))


def _front(points: Sequence[Point]) -> set[Point]:
    """The values of the Pareto front (maximizing every coordinate). Sorted best-first
    lexicographically, a point can only be dominated by one before it: each is compared
    with the front so far, not with every other point."""
    front: list[Point] = []
    for point in sorted(set(points), reverse=True):
        if not any(_dominates(kept, point) for kept in front):
            front.append(point)
    return set(front)


def _stagnating(experiment: Experiment, points: list[Point], budget_reached: bool) -> bool:
    lookback = LOOKBACK_FACTOR * len(experiment.parameters)
    if len(points) <= lookback + NUM_TOP_RESULTS_TO_CHECK - 1:
        return False
    optimized = len(experiment.optimized_metrics())
    if optimized == 0:
        return False
    earlier = points[: len(points) - lookback]
    if optimized > 1:
        return budget_reached and _front(earlier) == _front(points)
    top_earlier = sorted(p[0] for p in earlier)[-NUM_TOP_RESULTS_TO_CHECK]
    best_since = max(p[0] for p in points[len(points) - lookback :])
    return top_earlier >= best_since


def reasons(core: Core, eid: int) -> list[str]:
    """The reasons to stop, SigOpt's order; empty: go on."""
    experiment = core.experiment(eid)
    observations = core.store.all_observations(eid)
    count = len(observations)
    budget = experiment.observation_budget
    budget_reached = bool(budget) and count > (budget or 0)
    found = []
    if _stagnating(experiment, _points(experiment, observations), budget_reached):
        found.append("possible_stagnation")
    if budget_reached:
        found.append("observation_budget_reached")
    return found
