"""Quality of multitask (`tasks`): a two-fidelity Hartmann 6-D with a cheap, biased task.

The full-cost task (cost 1) is Hartmann 6-D itself. The cheap task (cost 0.1) is a
biased approximation, as a short training run is: Hartmann's first bump weighed less
(BoTorch's `AugmentedHartmann` at fidelity 0: alpha_1 - 0.1), evaluated at a point
shifted by +0.05 in every coordinate (clipped), plus 0.5. Its optimum lies near, not
at, the true one, and its values are not the true ones.

Every engine gets the same budget in cost (`BUDGET` units):

- `ours@4`: a multitask experiment (tasks cheap 0.1 and full 1), 4 open suggestions,
  new suggestions asked while observations plus open suggestions consume less than the
  budget (the service's `within_budget` rule): the engine picks each task;
- `ours_full@4`: our engine on the full-cost task only, `BUDGET` evaluations;
- `optuna_tpe`: Optuna's TPE, sequential, full-cost task only (Optuna has no task costs;
  an Optuna user would run the real objective), `BUDGET` evaluations;
- `random`: random search on the full-cost task, `BUDGET` evaluations.

Regret is the true (full-cost) value of the best full-cost observation, as
`best_assignments` returns it, minus Hartmann's minimum; cheap observations never count.
Per unit of cost: `regret_auc`, the mean over the cost axis (0 to the budget) of that
best-so-far regret, where a run with no full-cost observation yet counts the worst
first full-cost regret of any run (as the suite's AUC does).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np

from benchmarks.functions import hartmann6
from benchmarks.quality.runs import run_engine, run_optuna
from sigopt_service.best import cost_units
from sigopt_service.engine import Engine
from sigopt_service.models import MetricEvaluation, Suggestion
from sigopt_service.store import InMemoryStore, NewObservation
from sigopt_service.usecases import suggest_and_store
from sigopt_service.validation import validate_experiment_create

BUDGET = 40
CHEAP_COST = 0.1
MULTITASK_ENGINES = ("ours@4", "ours_full@4", "optuna_tpe", "random")
#: (cost spent, best full-cost regret so far) after each observation.
CostCurve = list[tuple[float, float]]


def cheap_hartmann6(a: Mapping[str, Any]) -> float:
    """The cheap task: biased, shifted and offset (see the module)."""
    x = {k: min(1.0, float(v) + 0.05) for k, v in a.items()}
    first_bump = _first_bump(x)
    return hartmann6.fn(x) + 0.1 * first_bump + 0.5


def _first_bump(x: Mapping[str, float]) -> float:
    """exp(-sum A_1j (x_j - P_1j)^2), Hartmann's first term without its weight."""
    a = np.array([10, 3, 17, 3.5, 1.7, 8])
    p = 1e-4 * np.array([1312, 1696, 5569, 124, 8283, 5886])
    v = np.array([x[f"x{i}"] for i in range(1, 7)])
    return float(np.exp(-np.sum(a * (v - p) ** 2)))


def _definition(with_tasks: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "two_fidelity_hartmann6",
        "parameters": hartmann6.parameters(),
        "metrics": [{"name": "value", "objective": "minimize"}],
        "observation_budget": BUDGET,
    }
    if with_tasks:
        body["tasks"] = [{"name": "cheap", "cost": CHEAP_COST}, {"name": "full", "cost": 1.0}]
    return body


def run_multitask(engine: str, *, seed: int) -> CostCurve:
    """One run's cost curve (see `CostCurve`)."""
    if engine == "ours@4":
        return _run_ours_multitask(seed)
    regret = [v - hartmann6.minimum for v in _full_cost_curve(engine, seed)]
    return [(float(i + 1), r) for i, r in enumerate(regret)]


def _full_cost_curve(engine: str, seed: int) -> list[float]:
    if engine == "optuna_tpe":
        return run_optuna(hartmann6, "optuna_tpe", budget=BUDGET, seed=seed)
    kind = {"ours_full@4": "offline", "random": "random"}[engine]
    experiment = validate_experiment_create(_definition(with_tasks=False))
    return run_engine(
        experiment,
        hartmann6,
        engine_type=kind,
        open_suggestions=4 if kind == "offline" else 1,
        budget=BUDGET,
        seed=seed,
    )


def _run_ours_multitask(seed: int) -> CostCurve:
    store = InMemoryStore()
    experiment = store.create_experiment(validate_experiment_create(_definition(True)))
    engine = Engine(store, seed=seed)
    pending: deque[Suggestion] = deque()
    spent, held = Decimal(0), Decimal(0)
    best = float("inf")
    curve: CostCurve = []
    while True:
        # The service's `within_budget`: a new suggestion while spent + held < budget.
        while len(pending) < 4 and spent + held < BUDGET:
            suggestion = suggest_and_store(engine, store, experiment)
            pending.append(suggestion)
            held += cost_units(suggestion.task)
        if not pending:
            return curve
        suggestion = pending.popleft()
        assert suggestion.task is not None
        full = suggestion.task.cost == 1
        value = (hartmann6.fn if full else cheap_hartmann6)(suggestion.assignments)
        new = NewObservation(
            suggestion=int(suggestion.id), values=[MetricEvaluation(name="value", value=value)]
        )
        engine.observed(experiment, store.create_observations(int(experiment.id), [new]))
        cost = cost_units(suggestion.task)
        held -= cost
        spent += cost
        if full:
            best = min(best, value - hartmann6.minimum)
        curve.append((float(spent), best))


def regret_auc(curve: CostCurve, fallback: float) -> float:
    """The mean over the cost axis [0, BUDGET] of the best-so-far regret (a step function
    of the cost spent); `fallback` before any full-cost observation."""
    area, at, regret = 0.0, 0.0, fallback
    for cost, best in curve:
        step_end = min(cost, BUDGET)
        area += (step_end - at) * regret
        at = step_end
        regret = best if best != float("inf") else fallback
    area += max(0.0, BUDGET - at) * regret
    return area / BUDGET
