"""Simulated runs as best-so-far curves: our engine without HTTP, and Optuna's samplers."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import optuna

from benchmarks.functions import TestFunction
from sigopt_service.engine import Engine
from sigopt_service.models import ExperimentType, MetricEvaluation, Suggestion
from sigopt_service.store import InMemoryStore, NewExperiment, NewObservation
from sigopt_service.usecases import suggest_and_store

Objective = Callable[[Mapping[str, Any]], float | None]
P = TypeVar("P")


def experiment_for(function: TestFunction, *, engine_type: str = "offline") -> NewExperiment:
    """A one-metric minimization experiment over the function's box."""
    return NewExperiment.model_validate(
        {
            "name": function.name,
            "type": engine_type,
            "parameters": function.parameters(),
            "metrics": [{"name": "value", "objective": "minimize"}],
        }
    )


def run_engine(
    experiment_def: NewExperiment,
    objective: Objective,
    *,
    engine_type: str = "offline",
    open_suggestions: int = 4,
    budget: int = 40,
    seed: int = 0,
    use_gp: bool | None = None,
) -> list[float]:
    """Best-so-far curve (one entry per observation) of one simulated run; minimizes.

    `objective` returning None reports a failed observation. The first metric of the
    experiment receives the value.
    """
    store = InMemoryStore()
    experiment = store.create_experiment(
        experiment_def.model_copy(update={"type": ExperimentType(engine_type)})
    )
    engine = Engine(store, seed=seed, use_gp=use_gp)
    metric = experiment.metrics[0].name

    def tell(suggestion: Suggestion, value: float | None) -> None:
        if value is None:
            new = NewObservation(suggestion=int(suggestion.id), failed=True)
        else:
            metric_value = MetricEvaluation(name=metric, value=value)
            new = NewObservation(suggestion=int(suggestion.id), values=[metric_value])
        engine.observed(experiment, store.create_observations(int(experiment.id), [new]))

    return _best_so_far(
        lambda: suggest_and_store(engine, store, experiment),
        lambda s: objective(s.assignments),
        tell,
        open_points=open_suggestions,
        budget=budget,
    )


def _best_so_far(
    ask: Callable[[], P],
    evaluate: Callable[[P], float | None],
    tell: Callable[[P, float | None], None],
    *,
    open_points: int,
    budget: int,
) -> list[float]:
    """The loop both kinds of run share: keep `open_points` asked and not yet told, tell
    the oldest, until `budget` are told; the best value so far after each (None: failed)."""
    pending: deque[P] = deque()
    best = float("inf")
    curve: list[float] = []
    while len(curve) < budget:
        while len(pending) < open_points and len(curve) + len(pending) < budget:
            pending.append(ask())
        point = pending.popleft()
        value = evaluate(point)
        tell(point, value)
        if value is not None:
            best = min(best, value)
        curve.append(best)
    return curve


def compare(
    function: TestFunction, *, budget: int, seeds: range, open_suggestions: int = 4
) -> dict[str, list[float]]:
    """Best value found per seed, for the default engine and for random search."""
    results: dict[str, list[float]] = {}
    for engine_type in ("offline", "random"):
        results[engine_type] = [
            run_engine(
                experiment_for(function),
                function,
                engine_type=engine_type,
                open_suggestions=open_suggestions,
                budget=budget,
                seed=seed,
            )[-1]
            for seed in seeds
        ]
    return results


def run_optuna(
    function: TestFunction,
    sampler_kind: str,
    *,
    budget: int,
    seed: int,
    open_trials: int = 1,
) -> list[float]:
    """Best-so-far curve of Optuna's own sampler, ask/evaluate/tell; minimizes.

    `open_trials` > 1 keeps that many trials asked and not yet told, as `run_engine`
    keeps suggestions open, and turns on TPE's `constant_liar` (Optuna's own answer to
    pending trials); 1 is sequential, as an Optuna user runs it by default.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler: optuna.samplers.BaseSampler
    if sampler_kind == "optuna_tpe":
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=open_trials > 1)
    elif sampler_kind == "optuna_gp":
        sampler = optuna.samplers.GPSampler(seed=seed)
    else:
        raise ValueError(sampler_kind)
    study = optuna.create_study(sampler=sampler)
    distributions = function.distributions()

    def tell(trial: optuna.trial.Trial, value: float | None) -> None:
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)

    return _best_so_far(
        lambda: study.ask(distributions),
        lambda trial: function(trial.params),
        tell,
        open_points=open_trials,
        budget=budget,
    )
