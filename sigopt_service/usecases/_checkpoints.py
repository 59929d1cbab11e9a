"""Checkpoint use cases on the store thread (`sigopt.log_checkpoint`): append, with
sigopt-server's rules (at most `MAX_CHECKPOINTS` per run, none once the run became an
observation, none in a deleted experiment), fetch and list. Each checks the run first
(`_runs.fetch`: under an experiment's path, only a run of that experiment), in the same
store call."""

from __future__ import annotations

from typing import Any

import sigopt_service.usecases._runs as _runs
from sigopt_service.errors import Conflict, InvalidRequest
from sigopt_service.models import ExperimentState
from sigopt_service.run_models import Checkpoint
from sigopt_service.store import Page
from sigopt_service.usecases._core import Core
from sigopt_service.validation.training_run import MAX_CHECKPOINTS, validate_checkpoint


def create(core: Core, run_id: int, body: dict[str, Any], eid: int | None = None) -> Checkpoint:
    run = _runs.fetch(core, run_id, eid)
    experiment = None if run.experiment is None else core.experiment(int(run.experiment))
    if experiment is not None and experiment.state is ExperimentState.DELETED:
        raise InvalidRequest(f"Cannot create checkpoints for deleted experiment {experiment.id}")
    values, metadata = validate_checkpoint(experiment, body)
    if run.checkpoint_count >= MAX_CHECKPOINTS:
        raise Conflict(f"Training run {run_id} cannot exceed {MAX_CHECKPOINTS} checkpoints.")
    if run.observation is not None:
        raise Conflict(
            f"Training run {run_id} has already been used to create observation: "
            f"{run.observation}. No new checkpoints can be created."
        )
    return core.store.create_checkpoint(run_id, values, metadata)


def fetch(core: Core, run_id: int, checkpoint_id: int, eid: int | None = None) -> Checkpoint:
    _runs.fetch(core, run_id, eid)
    return core.store.get_checkpoint(run_id, checkpoint_id)


def listing(
    core: Core, run_id: int, limit: int, cursor: int | None, eid: int | None = None
) -> Page[Checkpoint]:
    _runs.fetch(core, run_id, eid)
    return core.store.list_checkpoints(run_id, limit=limit, cursor=cursor)
