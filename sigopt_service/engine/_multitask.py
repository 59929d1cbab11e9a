"""Multitask: which task the next suggestion runs on, and what the study learns from
observations of different tasks.

A multitask experiment has one full-cost task (cost 1, the objective itself) and cheaper
ones (an approximation: fewer epochs, a data subset). Only full-cost observations can be
best (`best.py`); the budget is spent in cost. Two rules:

- **The schedule** (`choose_task`): cheap tasks explore, the full-cost task confirms.
  With `p` the share of the budget spent or held by open suggestions, the full-cost
  task's share of the spending follows `F(p)`, the integral of a ramp that is 0 before
  `RAMP_START` of the budget and 1 after `RAMP_END`: nothing but cheap tasks early, a
  mix in between, the full-cost task only at the end; 60% of the budget goes to it in
  all (`F(1) = 1 - (RAMP_START + RAMP_END) / 2`). A suggestion gets the full-cost task
  while that task's spending is below `F(p) * budget`. On the two-fidelity Hartmann of
  the quality benchmark, ramps from 0.1-0.5 to 0.4-0.8 ended at about the same median
  regret (0.15-0.21, 10 seeds); 0.2-0.6 got there sooner (a lower regret per unit of
  cost). Among several cheap tasks the cost rises
  with `p` (log-interpolated from the cheapest to the dearest cheap one by `RAMP_END`).
  Deterministic: the same history gives the same task, after a restart too.
- **The model**: one TPE study over all observations, each told as its quantile among
  the successful observations of its own task (`task_scores`, 1 the best), not as its
  raw value. A cheap task's values are biased (lower accuracy after fewer epochs), so raw
  values of two tasks do not compare; ranks within a task do, and TPE only splits trials
  by rank anyway. Cheap observations thus shape where TPE looks, and the full-cost ones
  count as much. Scores move with every observation, so the study is rebuilt from the
  store for each proposal after an observation (`Engine.observed`).

Each trial carries its task's cost as the user attribute `TASK_COST` (observations and
open suggestions alike; proposals told as infeasible do not), which the schedule reads.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import optuna
from optuna.trial import TrialState

from sigopt_service.models import Experiment, Metric, Objective, Observation, Task

#: The trial user attribute holding the cost of the trial's task.
TASK_COST = "task_cost"
#: Before this share of the budget every suggestion is of a cheap task, after `RAMP_END`
#: every one of the full-cost task; in between the full-cost share rises linearly.
RAMP_START = 0.2
RAMP_END = 0.6


def full_cost_share(p: float) -> float:
    """`F(p)`: the share of the budget the full-cost task should have consumed once `p`
    of it is spent (the ramp's integral)."""
    p = min(max(p, 0.0), 1.0)
    if p <= RAMP_START:
        return 0.0
    width = RAMP_END - RAMP_START
    if p <= RAMP_END:
        return (p - RAMP_START) ** 2 / (2 * width)
    return width / 2 + (p - RAMP_END)


def _spent(study: optuna.Study) -> tuple[float, float]:
    """(all, full-cost) spending of the study's observations and open suggestions."""
    total = full = 0.0
    states = (TrialState.COMPLETE, TrialState.RUNNING)
    for trial in study.get_trials(deepcopy=False, states=states):
        cost = trial.user_attrs.get(TASK_COST)
        if cost is None:
            continue  # a proposal told as infeasible, not an evaluation
        total += cost
        if cost == 1:
            full += cost
    return total, full


def choose_task(experiment: Experiment, study: optuna.Study) -> Task:
    """The task of the next suggestion of a multitask experiment (see the module)."""
    tasks = experiment.tasks or []
    full = next(t for t in tasks if t.cost == 1)
    cheap = sorted((t for t in tasks if t.cost < 1), key=lambda t: t.cost)
    budget = float(experiment.observation_budget or 1)
    spent, spent_full = _spent(study)
    p = spent / budget
    if not cheap or spent_full < full_cost_share(p) * budget:
        return full
    if len(cheap) == 1:
        return cheap[0]
    low, high = math.log(cheap[0].cost), math.log(cheap[-1].cost)
    target = low + min(p / RAMP_END, 1.0) * (high - low)
    return min(cheap, key=lambda t: abs(math.log(t.cost) - target))


def _value(observation: Observation, metric: Metric) -> float | None:
    """The optimized metric's value (the only one: multitask has one optimized metric)."""
    if observation.failed:
        return None
    for evaluation in observation.values:
        if evaluation.name == metric.name or len(observation.values) == 1:
            return evaluation.value
    return None


def task_scores(observations: Sequence[Observation], metric: Metric) -> dict[int, float]:
    """Observation id -> its quantile among its task's successful observations, in (0, 1),
    higher is better, ties sharing the mean rank. Failed ones (no value) are left out:
    the study tells them as failures."""
    by_task: dict[float | None, list[tuple[float, int]]] = {}
    for observation in observations:
        value = _value(observation, metric)
        if value is None:
            continue
        oriented = value if metric.objective is Objective.MAXIMIZE else -value
        cost = None if observation.task is None else observation.task.cost
        by_task.setdefault(cost, []).append((oriented, int(observation.id)))
    scores: dict[int, float] = {}
    for values in by_task.values():
        ordered = sorted(v for v, _ in values)
        n = len(ordered)
        for value, observation_id in values:
            below = bisect.bisect_left(ordered, value)
            equal = bisect.bisect_right(ordered, value) - below
            scores[observation_id] = (below + equal / 2) / n
    return scores
