"""Observation use cases on the store thread: observe (and, our extension, ask for the next
suggestion in the same call), the all-or-nothing batch, update and delete (listing is
`_listing.py`).

Unless the service allows it, a suggestion is observed at most once (`AlreadyObserved`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from sigopt_service.errors import (
    AlreadyObserved,
    ApiError,
    OptimizationServiceError,
    RecordNotFound,
    UnknownSuggestion,
)
from sigopt_service.models import Experiment, Metadata, Observation, Suggestion
from sigopt_service.usecases._core import Core
from sigopt_service.validation import (
    validate_observation_batch,
    validate_observation_update,
    validate_observation_with_next,
)

log = structlog.get_logger()


@dataclass(frozen=True)
class Observed:
    """What observe-and-suggest answers: the stored observation and, when the next
    suggestion was asked for, either it or why there is none (`refused`: an `ApiError`,
    or a store error the HTTP layer maps as it maps any other)."""

    observation: Observation
    wants_next: bool = False
    next_suggestion: Suggestion | None = None
    refused: OptimizationServiceError | None = None


def create(
    core: Core, eid: int, body: dict[str, Any], *, wants_next: bool, within_budget: bool
) -> Observed:
    experiment = core.active_experiment(eid, "observations")
    new, next_metadata = validate_observation_with_next(experiment, body)
    created = core.store.create_observations(
        eid, [new], allow_duplicates=core.config.allow_duplicate_observations
    )
    core.observations_stored(experiment, created)
    if not wants_next:
        return Observed(created[0])
    suggestion, refused = _next_suggestion(core, experiment, next_metadata, within_budget)
    return Observed(created[0], True, suggestion, refused)


def _next_suggestion(
    core: Core, experiment: Experiment, metadata: Metadata | None, within_budget: bool
) -> tuple[Suggestion | None, OptimizationServiceError | None]:
    """The suggestion after a stored observation, or why there is none. Nothing raised
    here may undo the observation's answer: it is committed."""
    try:
        with core.experiment_unit(int(experiment.id)):
            if within_budget:
                core.check_budget(experiment)
            return core.suggest(experiment, metadata), None
    except (ApiError, RecordNotFound, UnknownSuggestion, AlreadyObserved) as exc:
        return None, exc
    except Exception:
        # Logged with its traceback here; the client is told no internals, as for a 500.
        log.exception("next_suggestion_failed", experiment_id=experiment.id)
        return None, ApiError("An unexpected server error prevented the next suggestion.")


def create_batch(core: Core, eid: int, body: dict[str, Any], dry_run: bool) -> list[Observation]:
    experiment = core.active_experiment(eid, "observations")
    new = validate_observation_batch(experiment, body)
    created = core.store.create_observations(
        eid, new, allow_duplicates=core.config.allow_duplicate_observations, dry_run=dry_run
    )
    core.observations_stored(experiment, created)
    return created


def update(core: Core, eid: int, oid: int, body: dict[str, Any]) -> Observation:
    experiment = core.experiment(eid)
    current = core.store.get_observation(eid, oid)
    changes = validate_observation_update(
        experiment,
        current.failed,
        bool(current.values),
        body,
        current.values,
        has_suggestion=current.suggestion is not None,
    )
    # A move (`suggestion` / `assignments`) keeps one observation per suggestion unless
    # the service allows duplicates, as on create.
    allow = core.config.allow_duplicate_observations
    updated = (
        core.store.update_observation(eid, oid, changes, allow_duplicates=allow)
        if changes
        else current
    )
    # The engine rebuilds from the store: new values, assignments, reopened suggestions.
    core.history_changed(eid)
    return updated


def delete(core: Core, eid: int, oid: int) -> None:
    core.store.delete_observation(eid, oid)
    core.history_changed(eid)


def delete_all(core: Core, eid: int) -> None:
    core.experiment(eid)
    core.store.delete_observations(eid)
    core.history_changed(eid)
