"""Best observations and progress of an experiment: pure functions, no store access.

The HTTP app loads the observations and calls these:

    best = best_observations(experiment, store.all_observations(experiment_id))
    experiment.model_copy(update={"progress": progress(experiment, count, first, last, ...)})

Only non-failed, non-deleted observations that satisfy every metric threshold count
(spec section 3, best_assignments): a constraint metric, or an optimized one of a
two-metric experiment, with a `threshold` must reach it in the metric's direction
(>= when maximizing, <= when minimizing). In a multitask experiment only observations of
the full-cost task (cost 1) count, as sigopt-server's `single_metric_best(cost=1)`: a
cheaper task's value approximates the objective, it is not a value of it.

Budget consumed (`progress.observation_budget_consumed`) is the sum of the observations'
task costs, failed ones included (sigopt-server's `func.sum(task.cost)` over every
non-deleted observation); without tasks, their count. Summed in decimal (`cost_units`),
so ten observations of cost 0.1 consume exactly 1 and the budget check that compares
it with `observation_budget` never lets a float's rounding through.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from sigopt_service.models import (
    Experiment,
    Metric,
    MetricEvaluation,
    MetricStrategy,
    Objective,
    Observation,
    Progress,
    Suggestion,
    Task,
)


def cost_units(task: Task | None) -> Decimal:
    """What one observation (or suggestion) of `task` consumes of the budget: its cost as
    the decimal it was written as (`repr` of a float is its shortest round-trip form, so
    0.1 is 0.1 exactly), 1 without a task."""
    return Decimal(1) if task is None else Decimal(repr(task.cost))


def budget_consumed(items: Iterable[Observation | Suggestion]) -> Decimal:
    """The budget `items` consume: the sum of their task costs (their count without tasks)."""
    return sum((cost_units(item.task) for item in items), Decimal(0))


def is_full_cost(observation: Observation) -> bool:
    """Whether the observation counts as a value of the objective: of the full-cost task
    of a multitask experiment, or of an experiment without tasks."""
    return observation.task is None or observation.task.cost == 1


def metric_evaluation(
    experiment: Experiment, observation: Observation, metric: Metric
) -> MetricEvaluation | None:
    """The observation's evaluation of `metric` (value and stddev), or None when it has none.

    A single unnamed metric has name None, and an evaluation for it may carry no name
    either; with one metric, a lone evaluation is taken for it whatever its name.
    """
    for evaluation in observation.values:
        if evaluation.name == metric.name:
            return evaluation
    if len(experiment.metrics) == 1 and len(observation.values) == 1:
        lone = observation.values[0]
        if lone.name is None or metric.name is None:
            return lone
    return None


def metric_value(experiment: Experiment, observation: Observation, metric: Metric) -> float | None:
    """The observation's value for `metric` (`metric_evaluation`'s), or None."""
    evaluation = metric_evaluation(experiment, observation, metric)
    return None if evaluation is None else evaluation.value


def _score(metric: Metric, value: float) -> float:
    """The value oriented so that larger is better."""
    return value if metric.objective is Objective.MAXIMIZE else -value


def _is_feasible(experiment: Experiment, observation: Observation) -> bool:
    for metric in experiment.metrics:
        if metric.threshold is None or metric.strategy is MetricStrategy.STORE:
            continue
        value = metric_value(experiment, observation, metric)
        if value is None or _score(metric, value) < _score(metric, metric.threshold):
            return False
    return True


def _scored_candidates(
    experiment: Experiment, observations: Sequence[Observation], metrics: Sequence[Metric]
) -> list[tuple[tuple[float, ...], Observation]]:
    """(scores, observation) of every observation that may be best, in input order."""
    candidates = []
    for observation in observations:
        if observation.failed or observation.deleted or not is_full_cost(observation):
            continue
        values = [metric_value(experiment, observation, m) for m in metrics]
        if any(v is None for v in values) or not _is_feasible(experiment, observation):
            continue
        scores = tuple(_score(m, v) for m, v in zip(metrics, values, strict=True) if v is not None)
        candidates.append((scores, observation))
    return candidates


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x >= y for x, y in zip(a, b, strict=True)) and a != b


def best_observations(
    experiment: Experiment, observations: Sequence[Observation]
) -> list[Observation]:
    """The best observation (0 or 1 of them) for one optimized metric, else the Pareto front.

    With one optimized metric, ties go to the oldest observation (lowest id). With two or
    more, the front holds every feasible observation no other one dominates (at least as
    good in every metric, better in one), sorted by id; equal points all stay.
    """
    metrics = experiment.optimized_metrics()
    if not metrics:
        return []
    candidates = _scored_candidates(experiment, observations, metrics)
    if not candidates:
        return []
    if len(metrics) == 1:
        best = min(candidates, key=lambda c: (-c[0][0], int(c[1].id)))
        return [best[1]]
    # Sorted best-first lexicographically, a point can only be dominated by one before it,
    # so each candidate is compared with the front found so far, not with every other.
    ordered = sorted(candidates, key=lambda c: tuple(-s for s in c[0]))
    front: list[tuple[tuple[float, ...], Observation]] = []
    for scores, observation in ordered:
        if not any(_dominates(kept, scores) for kept, _ in front):
            front.append((scores, observation))
    return sorted((o for _, o in front), key=lambda o: int(o.id))


def ranked_observations(
    experiment: Experiment, observations: Sequence[Observation]
) -> list[Observation]:
    """Every observation that may be best for the one optimized metric, best first (ties:
    the older first); none with several optimized metrics. Multisolution chooses its
    solutions among these (`engine/solutions.py`)."""
    metrics = experiment.optimized_metrics()
    if len(metrics) != 1:
        return []
    candidates = _scored_candidates(experiment, observations, metrics)
    return [o for _, o in sorted(candidates, key=lambda c: (-c[0][0], int(c[1].id)))]


def progress(
    experiment: Experiment,
    observation_count: int,
    first: Observation | None,
    last: Observation | None,
    best: Observation | None,
    consumed: Decimal | None = None,
) -> Progress:
    """The experiment's `progress`; `best` is shown only with exactly one optimized metric.
    `consumed`: the budget the observations consumed (`budget_consumed`), None when each
    costs 1 (spec section 2, Progress): then it is their count."""
    single = len(experiment.optimized_metrics()) == 1
    return Progress(
        observation_count=observation_count,
        observation_budget_consumed=observation_count if consumed is None else float(consumed),
        first_observation=first,
        last_observation=last,
        best_observation=best if single else None,
    )
