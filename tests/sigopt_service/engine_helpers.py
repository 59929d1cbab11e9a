"""Shared helpers for the engine tests: a mixed space, observing, study inspection."""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import TrialState

from sigopt_service.engine import Engine
from sigopt_service.errors import StoreError
from sigopt_service.models import Experiment, MetricEvaluation, Observation, Suggestion
from sigopt_service.store import InMemoryStore, NewExperiment, NewObservation
from sigopt_service.usecases import suggest_and_store


def categories(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "enum_index": i} for i, n in enumerate(names, start=1)]


MIXED = [
    {"name": "x", "type": "double", "bounds": {"min": -2.0, "max": 3.0}},
    {"name": "lr", "type": "double", "bounds": {"min": 1e-5, "max": 1e-1}, "transformation": "log"},
    {"name": "n", "type": "int", "bounds": {"min": 1, "max": 8}},
    {"name": "opt", "type": "categorical", "categorical_values": categories("adam", "sgd", "rms")},
    {"name": "bs", "type": "int", "grid": [16, 64, 32]},
    {"name": "wd", "type": "double", "grid": [0.1, 0.0, 0.01]},
]


def make_experiment(
    store: InMemoryStore,
    parameters: list[dict[str, Any]] | None = None,
    *,
    type: str = "offline",
    metrics: list[dict[str, Any]] | None = None,
) -> Experiment:
    return store.create_experiment(
        NewExperiment.model_validate(
            {
                "name": "test",
                "type": type,
                "parameters": MIXED if parameters is None else parameters,
                "metrics": metrics or [{"name": "loss", "objective": "minimize"}],
            }
        )
    )


def observe(
    engine: Engine,
    store: InMemoryStore,
    experiment: Experiment,
    suggestion: Suggestion,
    value: float | None,
    *,
    allow_duplicates: bool = False,
) -> list[Observation]:
    """Report one suggestion (None means failed) the way the app does: commit, then tell."""
    if value is None:
        new = NewObservation(suggestion=int(suggestion.id), failed=True)
    else:
        name = experiment.metrics[0].name
        new = NewObservation(
            suggestion=int(suggestion.id), values=[MetricEvaluation(name=name, value=value)]
        )
    observations = store.create_observations(
        int(experiment.id), [new], allow_duplicates=allow_duplicates
    )
    engine.observed(experiment, observations)
    return observations


def study_of(engine: Engine, experiment: Experiment) -> optuna.Study:
    return engine._models[int(experiment.id)].study


def running_trials(engine: Engine, experiment: Experiment) -> list[optuna.trial.FrozenTrial]:
    """The study's pending points: one RUNNING trial per open suggestion."""
    trials = study_of(engine, experiment).get_trials(deepcopy=False)
    return [t for t in trials if t.state is TrialState.RUNNING]


def trial_summary(study: optuna.Study) -> list[tuple[str, str, str]]:
    """Order-free view of a study's trials (FAIL ones are discarded duplicates)."""
    trials = study.get_trials(deepcopy=False)
    return sorted(trial_summary_of([t for t in trials if t.state is not TrialState.FAIL]))


def sampler_after_one_round(
    engine: Engine, store: InMemoryStore, experiment: Experiment
) -> optuna.samplers.BaseSampler:
    """The sampler the engine picked, after one observed round."""
    suggestion = suggest_and_store(engine, store, experiment)
    observe(engine, store, experiment, suggestion, mixed_loss(suggestion.assignments))
    return study_of(engine, experiment).sampler


def trial_summary_of(trials: list[optuna.trial.FrozenTrial]) -> list[tuple[str, str, str]]:
    """State, params and values of each trial, comparable across studies.

    A failed trial's value is the lie (worst so far), which a rebuild may compute from
    more values than the incremental study had: only its failure is compared.
    """
    return [
        (
            t.state.name,
            repr(sorted(t.params.items())),
            "failed" if t.constraints.get("failed", 0.0) > 0 else repr(t.values),
        )
        for t in trials
    ]


def check_types(experiment: Experiment, assignments: dict[str, Any]) -> None:
    assert set(assignments) == {p.name for p in experiment.parameters}
    assert type(assignments["x"]) is float and -2.0 <= assignments["x"] <= 3.0
    assert type(assignments["lr"]) is float and 1e-5 <= assignments["lr"] <= 1e-1
    assert type(assignments["n"]) is int and 1 <= assignments["n"] <= 8
    assert assignments["opt"] in {"adam", "sgd", "rms"}
    assert type(assignments["bs"]) is int and assignments["bs"] in {16, 32, 64}
    assert type(assignments["wd"]) is float and assignments["wd"] in {0.0, 0.01, 0.1}


def mixed_loss(a: dict[str, Any]) -> float:
    return float(
        (a["x"] - 1) ** 2
        + abs(math.log10(a["lr"]) + 3)
        + a["n"] / 8
        + (a["opt"] != "sgd")
        + a["bs"] / 64
    )


class FailingOnceStore(InMemoryStore):
    """Fails the next `create_suggestion`, as a disk error would."""

    fail_next = False

    def create_suggestion(self, *args: Any, **kwargs: Any) -> Any:
        if self.fail_next:
            self.fail_next = False
            raise StoreError("disk I/O error")
        return super().create_suggestion(*args, **kwargs)
