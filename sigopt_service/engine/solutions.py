"""Multisolution: k good solutions spread over the space (`num_solutions: k`).

Diversity is distance in the unit hypercube (`unit_points`): each numeric parameter
scaled to [0, 1] over its bounds (in log space for `log` ones, over its values for a
grid), each categorical one-hot with its two differing coordinates at 1/sqrt(2) apart,
so two points that differ in one category are 1 apart, as two at opposite bounds are;
distances are divided by sqrt(number of parameters), so they lie in [0, 1].

`diverse_best` is sigopt-server's multisolution `best_assignments`
(`experiment/best.py`, libsigopt's `MultisolutionBestAssignments`): among the best
`max(round(0.2 * n), k)` of the n candidate observations (best first), a k-center
clustering by farthest-first traversal (Gonzalez) that starts at the best one; each
observation joins its nearest center, and the best of each cluster is a solution; the k
solutions are returned best first. Fewer than k candidates are all returned. So the
first solution is always the best observation, and the others are the best of regions
far from it and from each other, among the top fifth: good and spread, rather than the
k best, which tend to crowd one optimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import numpy as np
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sigopt_service.engine.space import Space
from sigopt_service.models import AssignmentValue, Experiment, Observation

T = TypeVar("T")

#: The share of the observations (at least k) among which the k solutions are chosen:
#: sigopt-server's `MULTISOLUTION_TOP_OBSERVATIONS_FRACTION`.
TOP_FRACTION = 0.2


def _axis(dist: object, value: AssignmentValue | None) -> list[float]:
    """The unit-cube coordinates of one parameter's value (0.5 / all zero when missing)."""
    if isinstance(dist, CategoricalDistribution):
        choices = dist.choices
        if all(isinstance(c, int | float) for c in choices):  # a grid: numeric
            low, high = min(choices), max(choices)  # type: ignore[type-var]
            if value is None or isinstance(value, str) or high == low:
                return [0.5]
            return [(float(value) - float(low)) / (float(high) - float(low))]  # type: ignore[arg-type]
        return [(1 / math.sqrt(2)) if value == c else 0.0 for c in choices]
    assert isinstance(dist, FloatDistribution | IntDistribution)
    if value is None or isinstance(value, str):
        return [0.5]
    low, high, x = float(dist.low), float(dist.high), float(value)
    if dist.log:
        low, high, x = math.log(low), math.log(high), math.log(max(x, dist.low))
    return [min(1.0, max(0.0, (x - low) / (high - low)))] if high > low else [0.5]


def unit_points(space: Space, points: Sequence[Mapping[str, AssignmentValue]]) -> np.ndarray:
    """Each point's unit-cube coordinates, one row per point (see the module)."""
    rows = []
    for point in points:
        row: list[float] = []
        for p in space.parameters:
            row += _axis(space.distributions[p.name], point.get(p.name))
        rows.append(row)
    return np.asarray(rows, dtype=float).reshape(len(points), -1)


def distances(points: np.ndarray, to: np.ndarray) -> np.ndarray:
    """The normalized distance of every row of `points` to every row of `to`."""
    scale = math.sqrt(max(1, points.shape[1]))
    diff = points[:, None, :] - to[None, :, :]
    result: np.ndarray = np.sqrt((diff**2).sum(axis=2)) / scale
    return result


def k_center(points: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    """Gonzalez's farthest-first traversal from row 0: the centers' rows, and each row's
    cluster (the index of its nearest center). Each center is in its own cluster, even
    when points coincide."""
    n = points.shape[0]
    centers = [0]
    nearest = distances(points, points[:1])[:, 0]
    for _ in range(1, min(k, n)):
        nearest[centers] = -np.inf
        nxt = int(np.argmax(nearest))
        centers.append(nxt)
        nearest = np.minimum(nearest, distances(points, points[nxt : nxt + 1])[:, 0])
    to_centers = distances(points, points[centers])
    to_centers[centers, np.arange(len(centers))] = -np.inf
    return centers, np.argmin(to_centers, axis=1)


def spread_best(
    ranked: Sequence[T], k: int, points: Callable[[Sequence[T]], np.ndarray]
) -> list[T]:
    """The k solutions among `ranked` (candidates, best first; `points` gives their
    unit-cube coordinates), best first: the rule of the module."""
    top = list(ranked[: max(round(len(ranked) * TOP_FRACTION), k)])
    if len(top) <= k:
        return top
    _, partition = k_center(points(top), k)
    firsts: dict[int, int] = {}
    for i, cluster in enumerate(partition.tolist()):
        firsts.setdefault(cluster, i)  # `top` is best first: the cluster's first is its best
    return [top[i] for i in sorted(firsts.values())]


def diverse_best(
    experiment: Experiment, ranked: Sequence[Observation], k: int
) -> list[Observation]:
    """The k solutions among `ranked` (candidate observations, best first), best first."""
    space = Space.from_experiment(experiment)
    return spread_best(ranked, k, lambda top: unit_points(space, [o.assignments for o in top]))
