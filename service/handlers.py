"""Route handlers of SigOpt REST API v1 under `/v1` (spec section 3).

Each handler parses the request (query and body, via `validation.py`), then does all of
its store and engine work in one `ServiceState.call` (one thread hop, one transaction
order), then renders wire models. Every mutating path tells the engine what changed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from aiohttp import web

from service.app import STATE, ServiceState, json_response
from service.best import best_observations, progress
from service.errors import Conflict, InvalidRequest, NotFound
from service.models import (
    Experiment,
    ExperimentState,
    Observation,
    Suggestion,
    SuggestionState,
)
from service.openapi import openapi_document
from service.store import NewObservation, Page
from service.validation import (
    MAX_ID,
    check_content_type,
    decode_marker,
    encode_marker,
    parse_bool,
    parse_id_list,
    parse_json_body,
    parse_limit,
    validate_assignments,
    validate_experiment_create,
    validate_experiment_update,
    validate_metadata,
    validate_observation_batch,
    validate_observation_create,
    validate_observation_update,
    validate_suggestion_create,
    validate_suggestion_update,
)

_ID_SEGMENT = re.compile(r"[0-9]{1,19}")
PARSE_IN_THREAD_BYTES = 64 * 1024


def _state(request: web.Request) -> ServiceState:
    return request.app[STATE]


def _path_id(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    # Not str.isdigit(): it is true for "³" and "٣", which int() then refuses (a 500).
    if not _ID_SEGMENT.fullmatch(raw) or not 0 < int(raw) <= MAX_ID:
        raise NotFound(f"Endpoint not found: {request.path}")
    return int(raw)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if raw.strip():
        check_content_type(request.content_type, request.charset)
    if len(raw) < PARSE_IN_THREAD_BYTES:
        return parse_json_body(raw)
    # A body of megabytes takes a good part of a second to parse and check: not on the
    # event loop, where it would stall every other request meanwhile.
    return await anyio.to_thread.run_sync(parse_json_body, raw)


def _pagination(
    items: list[dict[str, Any]], page: Page[Any], ids: list[int], *, follow_after: bool = False
) -> dict[str, Any]:
    """The official client follows `paging.before` (or `paging.after` if its first call
    passed `after`) until it is null; the marker it follows names the page's last item."""
    last = encode_marker(ids[-1]) if page.has_more and ids else None
    if follow_after:
        paging = {"before": encode_marker(ids[0]) if ids else None, "after": last}
    else:
        paging = {"before": last, "after": encode_marker(ids[0]) if ids else None}
    return {"object": "pagination", "count": page.count, "data": items, "paging": paging}


def _cursor(request: web.Request, *, after_allowed: bool = False) -> tuple[int | None, bool]:
    """The listing's cursor and whether `after` asked for ascending order."""
    before, after = request.query.get("before"), request.query.get("after")
    if before is not None and after is not None:
        raise InvalidRequest("Provide at most one of `before` and `after`")
    if after is not None:
        if not after_allowed:
            raise InvalidRequest("`after` paging is supported on observations; use `before`")
        return decode_marker(after, "after"), True
    return (None if before is None else decode_marker(before, "before")), False


def _with_progress(state: ServiceState, experiment: Experiment) -> Experiment:
    """Runs in the store thread: the experiment plus its `progress` object."""
    store, eid = state.store, int(experiment.id)
    first = store.list_observations(eid, ascending=True, limit=1)
    last = store.list_observations(eid, limit=1)
    best = None
    if len(experiment.optimized_metrics()) == 1 and first.count:
        found = best_observations(experiment, store.all_observations(eid))
        best = found[0] if found else None
    return experiment.model_copy(
        update={
            "progress": progress(
                experiment,
                first.count,
                first.items[0] if first.items else None,
                last.items[0] if last.items else None,
                best,
            )
        }
    )


def _experiment_json(experiment: Experiment) -> dict[str, Any]:
    return experiment.model_dump(mode="json")


def _refuse_duplicates(state: ServiceState, eid: int, new: Sequence[NewObservation]) -> None:
    """Runs in the store thread, under the one lock: check and insert are atomic."""
    if state.config.allow_duplicate_observations:
        return
    seen: set[int] = set()
    for item in new:
        if item.suggestion is None:
            continue
        if item.suggestion in seen:
            raise Conflict(f"Suggestion {item.suggestion} is observed twice in this request")
        seen.add(item.suggestion)
        try:
            suggestion = state.store.get_suggestion(eid, item.suggestion)
        except NotFound:
            continue  # the store answers with SigOpt's 400 "No suggestion: ..."
        if suggestion.state is SuggestionState.CLOSED:
            raise Conflict(
                f"Suggestion {item.suggestion} already has an observation "
                f"(experiment {eid}); each suggestion is observed once"
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


def _count_observations(state: ServiceState, eid: int, created: Sequence[Observation]) -> None:
    if state.config.allow_duplicate_observations:
        # A second observation closes nothing new: recount from the store next time.
        state.forget_counts(eid)
        return
    closed = sum(1 for o in created if o.suggestion is not None)
    state.count_created(eid, observations=len(created), closed=closed)


def _require_active(experiment: Experiment, what: str) -> None:
    if experiment.state is ExperimentState.DELETED:
        raise InvalidRequest(f"Cannot create {what} for deleted experiment {experiment.id}")


# ---------------------------------------------------------------------------- experiments
async def create_experiment(request: web.Request) -> web.Response:
    new = validate_experiment_create(await _body(request))
    state = _state(request)

    def work() -> Experiment:
        return _with_progress(state, state.store.create_experiment(new))

    return json_response(request, _experiment_json(await state.call(work)))


async def list_experiments(request: web.Request) -> web.Response:
    state, q = _state(request), request.query
    state_filter = q.get("state", "active")
    if state_filter not in ("active", "deleted", "all"):
        raise InvalidRequest(
            f"Invalid value for `state`: {state_filter!r:.40} (active, deleted, all)"
        )
    limit = parse_limit(q.get("limit"))
    cursor, _ = _cursor(request)

    def work() -> tuple[list[Experiment], Page[Experiment]]:
        page = state.store.list_experiments(state=state_filter, limit=limit, cursor=cursor)  # type: ignore[arg-type]
        return [_with_progress(state, e) for e in page.items], page

    items, page = await state.call(work)
    return json_response(
        request, _pagination([_experiment_json(e) for e in items], page, [int(e.id) for e in items])
    )


async def get_experiment(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")

    def work() -> Experiment:
        return _with_progress(state, state.experiment(eid))

    return json_response(request, _experiment_json(await state.call(work)))


async def update_experiment(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")
    body = await _body(request)

    def work() -> Experiment:
        changes = validate_experiment_update(state.experiment(eid), body)
        updated = state.store.update_experiment(eid, changes) if changes else state.experiment(eid)
        state.forget(eid)
        state.engine.invalidate(eid)
        return _with_progress(state, updated)

    return json_response(request, _experiment_json(await state.call(work)))


async def delete_experiment(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")

    def work() -> None:
        state.experiment(eid)
        state.store.update_experiment(eid, {"state": ExperimentState.DELETED.value})
        state.forget(eid)
        state.engine.invalidate(eid)

    await state.call(work)
    return json_response(request, {})


# ---------------------------------------------------------------------------- suggestions
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
        parsed = validate_suggestion_create(experiment, body)
        metadata = validate_metadata(parsed.metadata)
        if parsed.assignments is None:
            created = state.engine.suggest(experiment, metadata)
        else:
            assignments = validate_assignments(experiment, parsed.assignments)
            created = state.store.create_suggestion(eid, assignments, metadata)
            state.engine.invalidate(eid)
        state.count_created(eid, suggestions=1)
        return created

    return json_response(request, _suggestion_json(await state.call(work)))


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
        state.forget_counts(eid)
        state.engine.invalidate(eid)

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
        state.forget_counts(eid)
        state.engine.invalidate(eid)

    await state.call(work)
    return json_response(request, {})


# ---------------------------------------------------------------------------- observations
def _observation_json(o: Observation) -> dict[str, Any]:
    return o.to_wire()


async def create_observation(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")
    body = await _body(request)

    def work() -> Observation:
        experiment = state.experiment(eid)
        _require_active(experiment, "observations")
        new = validate_observation_create(experiment, body)
        _refuse_duplicates(state, eid, [new])
        created = state.store.create_observations(eid, [new])
        _count_observations(state, eid, created)
        state.engine.observed(experiment, created)
        return created[0]

    return json_response(request, _observation_json(await state.call(work)))


async def create_observation_batch(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")
    body = await _body(request)
    dry_run = body.get("dry_run") is True

    def work() -> list[Observation]:
        experiment = state.experiment(eid)
        _require_active(experiment, "observations")
        new = validate_observation_batch(experiment, body)
        _refuse_duplicates(state, eid, new)
        if dry_run:
            return []
        created = state.store.create_observations(eid, new)
        _count_observations(state, eid, created)
        state.engine.observed(experiment, created)
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
        state.forget_counts(eid)
        state.engine.invalidate(eid)
        return updated

    return json_response(request, _observation_json(await state.call(work)))


async def delete_observation(request: web.Request) -> web.Response:
    state = _state(request)
    eid, oid = _path_id(request, "experiment_id"), _path_id(request, "observation_id")

    def work() -> None:
        state.store.delete_observation(eid, oid)
        state.forget_counts(eid)
        state.engine.invalidate(eid)

    await state.call(work)
    return json_response(request, {})


async def delete_observations(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")

    def work() -> None:
        state.experiment(eid)
        state.store.delete_observations(eid)
        state.forget_counts(eid)
        state.engine.invalidate(eid)

    await state.call(work)
    return json_response(request, {})


# ---------------------------------------------------------------------------- derived views
async def best_assignments(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")

    def work() -> list[Observation]:
        experiment = state.experiment(eid)
        return best_observations(experiment, state.store.all_observations(eid))

    best = await state.call(work)
    data = [
        {
            "object": "best_assignments",
            "id": o.id,
            "assignments": o.assignments,
            "values": [v.model_dump(mode="json") for v in o.values],
            "metadata": o.metadata,
            "value": o.value,
            "value_stddev": o.value_stddev,
        }
        for o in best
    ]
    return json_response(
        request,
        {
            "object": "pagination",
            "count": len(data),
            "data": data,
            "paging": {"before": None, "after": None},
        },
    )


async def stopping_criteria(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")

    def work() -> tuple[Experiment, int]:
        experiment = state.experiment(eid)
        return experiment, state.store.observation_count(eid)

    experiment, count = await state.call(work)
    reasons = []
    if experiment.observation_budget is not None and count > experiment.observation_budget:
        reasons.append("observation_budget_reached")
    return json_response(
        request, {"object": "stopping_criteria", "should_stop": bool(reasons), "reasons": reasons}
    )


async def openapi(request: web.Request) -> web.Response:
    return json_response(
        request, openapi_document(ROUTES, auth=bool(_state(request).config.tokens))
    )


ROUTES: list[tuple[str, str, Any, str]] = [
    ("POST", "/v1/experiments", create_experiment, "Create an experiment"),
    ("GET", "/v1/experiments", list_experiments, "List experiments"),
    ("GET", "/v1/experiments/{experiment_id}", get_experiment, "Fetch an experiment"),
    ("PUT", "/v1/experiments/{experiment_id}", update_experiment, "Update an experiment"),
    ("DELETE", "/v1/experiments/{experiment_id}", delete_experiment, "Delete an experiment"),
    (
        "POST",
        "/v1/experiments/{experiment_id}/suggestions",
        create_suggestion,
        "Create a suggestion",
    ),
    ("GET", "/v1/experiments/{experiment_id}/suggestions", list_suggestions, "List suggestions"),
    (
        "DELETE",
        "/v1/experiments/{experiment_id}/suggestions",
        delete_suggestions,
        "Delete all (or all open) suggestions",
    ),
    (
        "GET",
        "/v1/experiments/{experiment_id}/suggestions/{suggestion_id}",
        get_suggestion,
        "Fetch a suggestion",
    ),
    (
        "PUT",
        "/v1/experiments/{experiment_id}/suggestions/{suggestion_id}",
        update_suggestion,
        "Update a suggestion's metadata",
    ),
    (
        "DELETE",
        "/v1/experiments/{experiment_id}/suggestions/{suggestion_id}",
        delete_suggestion,
        "Delete a suggestion",
    ),
    (
        "POST",
        "/v1/experiments/{experiment_id}/observations",
        create_observation,
        "Create an observation",
    ),
    (
        "POST",
        "/v1/experiments/{experiment_id}/observations/batch",
        create_observation_batch,
        "Create observations in one all-or-nothing batch",
    ),
    ("GET", "/v1/experiments/{experiment_id}/observations", list_observations, "List observations"),
    (
        "DELETE",
        "/v1/experiments/{experiment_id}/observations",
        delete_observations,
        "Delete all observations",
    ),
    (
        "GET",
        "/v1/experiments/{experiment_id}/observations/{observation_id}",
        get_observation,
        "Fetch an observation",
    ),
    (
        "PUT",
        "/v1/experiments/{experiment_id}/observations/{observation_id}",
        update_observation,
        "Update an observation",
    ),
    (
        "DELETE",
        "/v1/experiments/{experiment_id}/observations/{observation_id}",
        delete_observation,
        "Delete an observation",
    ),
    (
        "GET",
        "/v1/experiments/{experiment_id}/best_assignments",
        best_assignments,
        "Best assignments (Pareto front for two optimized metrics)",
    ),
    (
        "GET",
        "/v1/experiments/{experiment_id}/stopping_criteria",
        stopping_criteria,
        "Stopping criteria",
    ),
    ("GET", "/v1/openapi.json", openapi, "This API's OpenAPI document"),
]


def add_routes(app: web.Application) -> None:
    for method, path, handler, _ in ROUTES:
        app.router.add_route(method, path, handler)


__all__ = ["ROUTES", "add_routes"]
