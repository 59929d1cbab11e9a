"""Handlers of the observation resource: `/v1/experiments/{id}/observations[/{id}]` and
the all-or-nothing `observations/batch`.

Unless the service allows it, a suggestion is observed at most once (409 otherwise).
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from sigopt_service.app import ServiceState, json_response
from sigopt_service.errors import ApiError, InvalidRequest
from sigopt_service.handlers_common import (
    _body,
    _cursor,
    _pagination,
    _path_id,
    _require_active,
    _state,
)
from sigopt_service.handlers_suggestions import _check_budget, _suggestion_json
from sigopt_service.models import Experiment, Metadata, Observation, Suggestion
from sigopt_service.query import parse_bool, parse_limit
from sigopt_service.store import Page
from sigopt_service.validation import (
    validate_observation_batch,
    validate_observation_update,
    validate_observation_with_next,
)

log = structlog.get_logger()


def _observation_json(o: Observation) -> dict[str, Any]:
    return o.to_wire()


async def create_observation(request: web.Request) -> web.Response:
    """Store one observation. Our extension: with `"next_suggestion": {"metadata": ...}` in
    the body, the service then creates the next suggestion in the same call (one request
    instead of two per evaluation, and never one more open suggestion than before) and
    answers it as `next_suggestion` next to the observation's fields. `within_budget=true`
    applies to that suggestion as on `POST .../suggestions`. If the suggestion cannot be
    made (the budget is full, an engine error), the observation is still stored:
    `next_suggestion` is null and `next_suggestion_refused` says why (status, message)."""
    state, eid = _state(request), _path_id(request, "experiment_id")
    body = await _body(request)
    within_budget = parse_bool(request.query.get("within_budget"), "within_budget")
    wants_next = body.get("next_suggestion") is not None
    if within_budget and not wants_next:
        raise InvalidRequest("`within_budget` applies to `next_suggestion` only: give both")

    def work() -> tuple[Observation, Suggestion | None, ApiError | None]:
        experiment = state.experiment(eid)
        _require_active(experiment, "observations")
        new, next_metadata = validate_observation_with_next(experiment, body)
        created = state.store.create_observations(
            eid, [new], allow_duplicates=state.config.allow_duplicate_observations
        )
        state.observations_created(experiment, created)
        if not wants_next:
            return created[0], None, None
        return created[0], *_next_suggestion(state, experiment, next_metadata, within_budget)

    observation, suggestion, refused = await state.call_hot(
        eid, work, asks=wants_next, counts=within_budget
    )
    answer = _observation_json(observation)
    if wants_next:
        answer["next_suggestion"] = None if suggestion is None else _suggestion_json(suggestion)
        if refused is not None:
            answer["next_suggestion_refused"] = {
                "status": refused.status,
                "message": refused.message,
            }
    return json_response(request, answer)


def _next_suggestion(
    state: ServiceState,
    experiment: Experiment,
    metadata: Metadata | None,
    within_budget: bool,
) -> tuple[Suggestion | None, ApiError | None]:
    """The suggestion after a stored observation, or why there is none. Nothing raised
    here may undo the observation's answer: it is committed."""
    try:
        if within_budget:
            _check_budget(state, experiment)
        created = state.engine.suggest(experiment, metadata)
    except ApiError as exc:
        return None, exc
    except Exception:
        # Logged with its traceback here; the client is told no internals, as for a 500.
        log.exception("next_suggestion_failed", experiment_id=experiment.id)
        return None, ApiError("An unexpected server error prevented the next suggestion.")
    state.count_created(int(experiment.id), suggestions=1)
    return created, None


async def create_observation_batch(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")
    body = await _body(request)
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        # "true" or 1 must not silently store the batch for real.
        raise InvalidRequest(f"Invalid value for `dry_run`: {dry_run!r:.40} is not a boolean")

    def work() -> list[Observation]:
        experiment = state.experiment(eid)
        _require_active(experiment, "observations")
        new = validate_observation_batch(experiment, body)
        created = state.store.create_observations(
            eid,
            new,
            allow_duplicates=state.config.allow_duplicate_observations,
            dry_run=dry_run,
        )
        state.observations_created(experiment, created)
        return created

    created = await state.call(work)
    return json_response(
        request,
        {
            "object": "pagination",
            "count": len(created),
            "data": [_observation_json(o) for o in created],
            "paging": {"before": None, "after": None},
        },
    )


async def list_observations(request: web.Request) -> web.Response:
    state, eid, q = _state(request), _path_id(request, "experiment_id"), request.query
    if q.get("sort", "id") != "id":
        raise InvalidRequest(f"Invalid value for `sort`: {q['sort']!r:.40} (supported: id)")
    cursor, after = _cursor(request, after_allowed=True)
    ascending = after or parse_bool(q.get("ascending"), "ascending")
    include_deleted = parse_bool(q.get("deleted"), "deleted")
    limit = parse_limit(q.get("limit"))

    def work() -> Page[Observation]:
        state.experiment(eid)
        return state.store.list_observations(
            eid, ascending=ascending, include_deleted=include_deleted, limit=limit, cursor=cursor
        )

    page = await state.call(work)
    return json_response(
        request,
        _pagination(
            [_observation_json(o) for o in page.items],
            page,
            [int(o.id) for o in page.items],
            follow_after=after,
        ),
    )


async def get_observation(request: web.Request) -> web.Response:
    state = _state(request)
    eid, oid = _path_id(request, "experiment_id"), _path_id(request, "observation_id")
    return json_response(
        request, _observation_json(await state.call(state.store.get_observation, eid, oid))
    )


async def update_observation(request: web.Request) -> web.Response:
    state = _state(request)
    eid, oid = _path_id(request, "experiment_id"), _path_id(request, "observation_id")
    body = await _body(request)

    def work() -> Observation:
        experiment = state.experiment(eid)
        current = state.store.get_observation(eid, oid)
        changes = validate_observation_update(
            experiment, current.failed, bool(current.values), body
        )
        updated = state.store.update_observation(eid, oid, changes) if changes else current
        state.changed(eid)
        return updated

    return json_response(request, _observation_json(await state.call(work)))


async def delete_observation(request: web.Request) -> web.Response:
    state = _state(request)
    eid, oid = _path_id(request, "experiment_id"), _path_id(request, "observation_id")

    def work() -> None:
        state.store.delete_observation(eid, oid)
        state.changed(eid)

    await state.call(work)
    return json_response(request, {})


async def delete_observations(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")

    def work() -> None:
        state.experiment(eid)
        state.store.delete_observations(eid)
        state.changed(eid)

    await state.call(work)
    return json_response(request, {})
