"""Suggestion use cases on the store thread: create (from the engine or from the client's
own assignments, with the optional budget check), list, fetch, update and delete."""

from __future__ import annotations

from typing import Any

from sigopt_service.errors import RecordNotFound
from sigopt_service.models import Suggestion
from sigopt_service.store import Page
from sigopt_service.usecases._core import Core
from sigopt_service.validation import (
    suggestion_task,
    validate_assignments,
    validate_metadata,
    validate_suggestion_create,
    validate_suggestion_update,
)


def create(core: Core, eid: int, body: dict[str, Any], within_budget: bool) -> Suggestion:
    # One unit: the budget's counts and the insert they allow, with no other process's
    # suggestion in between (`BaseStore.experiment_transaction`).
    with core.experiment_unit(eid):
        experiment = core.active_experiment(eid, "suggestions")
        if within_budget:
            core.check_budget(experiment)
        parsed = validate_suggestion_create(body, experiment)
        metadata = validate_metadata(parsed.metadata)
        if parsed.assignments is None:
            return core.suggest(experiment, metadata)
        assignments = validate_assignments(experiment, parsed.assignments)
        task = suggestion_task(experiment, body)
        created = core.store.create_suggestion(eid, assignments, metadata, task=task)
    core.history_changed(eid)  # a point the engine did not propose
    return created


def listing(
    core: Core,
    eid: int,
    *,
    open_only: bool,
    include_deleted: bool,
    ids: list[int] | None,
    limit: int,
    cursor: int | None,
) -> Page[Suggestion]:
    core.experiment(eid)
    # SigOpt's `deleted=true` lists the deleted suggestions only (suggestions/detail.py).
    return core.store.list_suggestions(
        eid,
        open_only=open_only,
        deleted_only=include_deleted,
        ids=ids,
        limit=limit,
        cursor=cursor,
    )


def live(core: Core, eid: int, sid: int) -> Suggestion:
    """A deleted suggestion is gone for GET and PUT, as sigopt-server answers (404)."""
    suggestion = core.store.get_suggestion(eid, sid)
    if suggestion.deleted:
        raise RecordNotFound("suggestion", sid, eid)
    return suggestion


def update(core: Core, eid: int, sid: int, body: dict[str, Any]) -> Suggestion:
    sets_metadata, metadata = validate_suggestion_update(body)
    current = live(core, eid, sid)
    if not sets_metadata:  # a key left out keeps its value: nothing to write
        return current
    return core.store.update_suggestion(eid, sid, metadata)


def delete(core: Core, eid: int, sid: int) -> None:
    core.store.delete_suggestion(eid, sid)
    core.history_changed(eid)


def delete_all(core: Core, eid: int, *, open_only: bool) -> None:
    core.experiment(eid)
    core.store.delete_suggestions(eid, open_only=open_only)
    core.history_changed(eid)
