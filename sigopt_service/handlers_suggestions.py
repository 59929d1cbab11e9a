"""Handlers of the suggestion resource: `/v1/experiments/{id}/suggestions[/{id}]`.

A suggestion is made by the engine, or from the client's own assignments; with
`within_budget=true` it is refused once the observation budget is filled.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sigopt_service.app import ServiceState, json_response
from sigopt_service.errors import Conflict, InvalidRequest, NotFound
from sigopt_service.handlers_common import (
    _body,
    _cursor,
    _pagination,
    _path_id,
    _require_active,
    _state,
)
from sigopt_service.models import Experiment, Suggestion
from sigopt_service.query import parse_bool, parse_id_list, parse_limit
from sigopt_service.store import Page
from sigopt_service.validation import (
    validate_assignments,
    validate_metadata,
    validate_suggestion_create,
    validate_suggestion_update,
)


def _check_budget(state: ServiceState, experiment: Experiment) -> None:
    """Our extension, `POST .../suggestions?within_budget=true`: refuse once observations
    plus open suggestions fill the budget. Under the one store lock, so the count and the
    insert that follows are atomic: several coordinators together stop exactly at it."""
    budget = experiment.observation_budget
    if budget is None:
        return
    eid = int(experiment.id)
    observed, opened = state.counts(eid)
    if observed + opened >= budget:
        raise Conflict(
            f"Observation budget of experiment {eid} is reached: {observed} "
            f"observations + {opened} open suggestions >= {budget}"
        )


def _suggestion_json(s: Suggestion) -> dict[str, Any]:
    return s.model_dump(mode="json")


async def create_suggestion(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")
    body = await _body(request)
    within_budget = parse_bool(request.query.get("within_budget"), "within_budget")

    def work() -> Suggestion:
        experiment = state.experiment(eid)
        _require_active(experiment, "suggestions")
        if within_budget:
            _check_budget(state, experiment)
        parsed = validate_suggestion_create(body)
        metadata = validate_metadata(parsed.metadata)
        if parsed.assignments is None:
            created = state.engine.suggest(experiment, metadata)
        else:
            assignments = validate_assignments(experiment, parsed.assignments)
            created = state.store.create_suggestion(eid, assignments, metadata)
            state.engine.invalidate(eid)
        state.count_created(eid, suggestions=1)
        return created

    created = await state.call_hot(
        eid, work, asks=body.get("assignments") is None, counts=within_budget
    )
    return json_response(request, _suggestion_json(created))


async def list_suggestions(request: web.Request) -> web.Response:
    state, eid, q = _state(request), _path_id(request, "experiment_id"), request.query
    open_only = False
    if "state" in q:
        if q["state"] != "open":
            raise InvalidRequest(f"Unrecognized state {q['state']:.40} (if provided, must be open)")
        open_only = True
    include_deleted = parse_bool(q.get("deleted"), "deleted")
    ids = parse_id_list(q.get("id"), "id")
    limit = parse_limit(q.get("limit"))
    cursor, _ = _cursor(request)

    def work() -> Page[Suggestion]:
        state.experiment(eid)
        return state.store.list_suggestions(
            eid,
            open_only=open_only,
            include_deleted=include_deleted,
            ids=ids,
            limit=limit,
            cursor=cursor,
        )

    page = await state.call(work)
    return json_response(
        request,
        _pagination(
            [_suggestion_json(s) for s in page.items], page, [int(s.id) for s in page.items]
        ),
    )


async def get_suggestion(request: web.Request) -> web.Response:
    state = _state(request)
    eid, sid = _path_id(request, "experiment_id"), _path_id(request, "suggestion_id")
    return json_response(
        request, _suggestion_json(await state.call(_live_suggestion, state, eid, sid))
    )


def _live_suggestion(state: ServiceState, eid: int, sid: int) -> Suggestion:
    """A deleted suggestion is gone for GET and PUT, as sigopt-server answers (404)."""
    suggestion = state.store.get_suggestion(eid, sid)
    if suggestion.deleted:
        raise NotFound(f"No suggestion {sid} for experiment {eid}")
    return suggestion


async def update_suggestion(request: web.Request) -> web.Response:
    state = _state(request)
    eid, sid = _path_id(request, "experiment_id"), _path_id(request, "suggestion_id")
    metadata = validate_suggestion_update(await _body(request))

    def work() -> Suggestion:
        _live_suggestion(state, eid, sid)
        return state.store.update_suggestion(eid, sid, metadata)

    return json_response(request, _suggestion_json(await state.call(work)))


async def delete_suggestion(request: web.Request) -> web.Response:
    state = _state(request)
    eid, sid = _path_id(request, "experiment_id"), _path_id(request, "suggestion_id")

    def work() -> None:
        state.store.delete_suggestion(eid, sid)
        state.changed(eid)

    await state.call(work)
    return json_response(request, {})


async def delete_suggestions(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")
    q = request.query
    if "state" in q and q["state"] != "open":
        raise InvalidRequest(f"Unrecognized state {q['state']:.40} (if provided, must be open)")

    def work() -> None:
        state.experiment(eid)
        state.store.delete_suggestions(eid, open_only="state" in q)
        state.changed(eid)

    await state.call(work)
    return json_response(request, {})
