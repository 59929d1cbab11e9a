"""Experiment use cases, each one transaction's worth of work on the store thread: create,
fetch, update, delete, and the views derived from the history (`progress`, best
assignments). Listing is `_listing.py`, stopping criteria `_stopping.py`."""

from __future__ import annotations

from typing import Any

from sigopt_service.best import (
    best_observations,
    budget_consumed,
    progress,
    ranked_observations,
)
from sigopt_service.engine.solutions import diverse_best
from sigopt_service.models import Experiment, ExperimentState, Observation
from sigopt_service.store import NewExperiment
from sigopt_service.usecases._core import Core
from sigopt_service.usecases._run_progress import runs_progress
from sigopt_service.validation import validate_experiment_update


def with_progress(core: Core, experiment: Experiment) -> Experiment:
    """The experiment plus its `progress` object (and an AI experiment's runs progress)."""
    store, eid = core.store, int(experiment.id)
    first = store.list_observations(eid, ascending=True, limit=1)
    last = store.list_observations(eid, limit=1)
    best = None
    if len(experiment.optimized_metrics()) == 1 and first.count:
        best = store.best_observation(eid)
    runs = runs_progress(store, experiment) if experiment.runs_only else None
    # Multitask: each observation consumes its task's cost (a read of the history).
    consumed = budget_consumed(store.all_observations(eid)) if experiment.tasks else None
    return experiment.model_copy(
        update={
            "progress": progress(
                experiment,
                first.count,
                first.items[0] if first.items else None,
                last.items[0] if last.items else None,
                best,
                consumed,
            ),
            "runs_progress": runs,
        }
    )


def create(core: Core, new: NewExperiment) -> Experiment:
    return with_progress(core, core.store.create_experiment(new))


def fetch(core: Core, eid: int) -> Experiment:
    return with_progress(core, core.experiment(eid))


def update(core: Core, eid: int, body: dict[str, Any]) -> Experiment:
    changes = validate_experiment_update(core.experiment(eid), body)
    updated = core.store.update_experiment(eid, changes) if changes else core.experiment(eid)
    core.history_changed(eid)
    return with_progress(core, updated)


def delete(core: Core, eid: int) -> None:
    core.experiment(eid)
    core.store.update_experiment(eid, {"state": ExperimentState.DELETED.value})
    core.history_changed(eid)


def best(core: Core, eid: int) -> list[Observation]:
    experiment = core.experiment(eid)
    k = experiment.num_solutions or 1
    if k > 1:  # multisolution: k good observations spread over the space
        ranked = ranked_observations(experiment, core.store.all_observations(eid))
        return diverse_best(experiment, ranked, k)
    if len(experiment.optimized_metrics()) == 1:
        kept = core.store.best_observation(eid)  # kept up to date: no history read
        return [] if kept is None else [kept]
    return best_observations(experiment, core.store.all_observations(eid))
