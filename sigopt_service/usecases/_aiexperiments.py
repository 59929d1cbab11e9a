"""AI experiment use cases on the store thread: create in a project, fetch, update,
delete (with its runs, if asked), and the best runs. An AI experiment is a classic
experiment with `runs_only` (`validation/aiexperiment.py`), so everything else (the
optimizer, suggestions, observations, `best_assignments`) is the classic machinery's."""

from __future__ import annotations

from typing import Any

import sigopt_service.usecases._experiments as _experiments
from sigopt_service.models import Experiment, ExperimentState
from sigopt_service.run_models import TrainingRun
from sigopt_service.usecases._core import Core
from sigopt_service.usecases._runs import ai_experiment
from sigopt_service.validation.aiexperiment import (
    validate_aiexperiment_create,
    validate_aiexperiment_update,
)


def create(core: Core, project_id: str, body: dict[str, Any]) -> Experiment:
    core.store.get_project(project_id)  # RecordNotFound: "No project x"
    new = validate_aiexperiment_create(body, project_id)
    return _experiments.with_progress(core, core.store.create_experiment(new))


def fetch(core: Core, eid: int) -> Experiment:
    return _experiments.with_progress(core, ai_experiment(core, eid))


def update(core: Core, eid: int, body: dict[str, Any]) -> Experiment:
    experiment = ai_experiment(core, eid)
    changes = validate_aiexperiment_update(experiment, body)
    updated = core.store.update_experiment(eid, changes) if changes else experiment
    core.history_changed(eid)
    return _experiments.with_progress(core, updated)


def delete(core: Core, eid: int, *, include_runs: bool) -> None:
    """Soft, as every delete; with `include_runs`, also every run of it, and with them
    every suggestion and observation (sigopt-server's `delete_runs_in_experiment`)."""
    ai_experiment(core, eid)
    if include_runs:
        core.store.delete_experiment_training_runs(eid)
    core.store.update_experiment(eid, {"state": ExperimentState.DELETED.value})
    core.history_changed(eid)


def best_runs(core: Core, eid: int) -> list[TrainingRun]:
    """The runs that became the best observations (`best_assignments`), in their order."""
    best = _experiments.best(core, eid)
    by_observation = {
        r.observation: r for r in core.store.all_training_runs(experiment=eid) if not r.deleted
    }
    return [by_observation[o.id] for o in best if o.id in by_observation]
