"""Queued-suggestion use cases on the store thread: queue, list, fetch and delete
(`/v1/experiments/{id}/queued_suggestions`), and `serve`, the first step of every
suggestion the service makes (`Core.suggest`), as sigopt-server's broker serves
`retrieve_queued_suggestions_if_exists` before asking its optimizer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from sigopt_service.models import Experiment, Metadata, QueuedSuggestion, Suggestion
from sigopt_service.store import Page
from sigopt_service.validation import InvalidField, validate_assignments
from sigopt_service.validation.queued_suggestion import validate_queued_suggestion_create

if TYPE_CHECKING:
    from sigopt_service.usecases._core import Core

log = structlog.get_logger()


def create(core: Core, eid: int, body: dict[str, Any]) -> QueuedSuggestion:
    # sigopt-server's wording: "Cannot create QueuedSuggestions for deleted experiment 7".
    experiment = core.active_experiment(eid, "QueuedSuggestions")
    assignments, task = validate_queued_suggestion_create(experiment, body)
    return core.store.create_queued_suggestion(eid, assignments, task=task)


def listing(
    core: Core, eid: int, *, ascending: bool, limit: int, cursor: int | None
) -> Page[QueuedSuggestion]:
    core.experiment(eid)
    return core.store.list_queued_suggestions(eid, ascending=ascending, limit=limit, cursor=cursor)


def fetch(core: Core, eid: int, qid: int) -> QueuedSuggestion:
    return core.store.get_queued_suggestion(eid, qid)


def delete(core: Core, eid: int, qid: int) -> None:
    core.store.delete_queued_suggestion(eid, qid)


def serve(core: Core, experiment: Experiment, metadata: Metadata | None) -> Suggestion | None:
    """The oldest waiting entry as a new open suggestion carrying `metadata` (the entry is
    consumed in the suggestion's own transaction), or None when none waits: then the
    engine proposes. The engine rebuilds with the suggestion pending, as for any
    suggestion it did not propose. An entry the experiment no longer takes (its
    parameters were updated since) is deleted, logged, and the next one tried."""
    eid = int(experiment.id)
    # Answered from the cache on the hot path: an empty queue costs no database read.
    while core.store.queued_suggestion_count(eid):
        oldest = core.store.oldest_queued_suggestion(eid)
        if oldest is None:
            return None
        try:
            validate_assignments(experiment, oldest.assignments)
        except InvalidField as exc:
            core.store.delete_queued_suggestion(eid, int(oldest.id))
            log.warning(
                "queued_suggestion_dropped",
                experiment_id=eid,
                queued_id=oldest.id,
                field=exc.field,
                reason=exc.reason,
            )
            continue
        served = core.store.serve_queued_suggestion(eid, int(oldest.id), metadata)
        core.history_changed(eid)
        return served
    return None
