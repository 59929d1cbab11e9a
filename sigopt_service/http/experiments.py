"""Handlers of the experiment resource: `/v1/experiments[/{id}]`, plus the views derived
from an experiment's observations (`best_assignments`, `stopping_criteria`).

Each handler parses, makes one call to the use cases, renders.
"""

from __future__ import annotations

from typing import Any, cast

from aiohttp import web

from sigopt_service.errors import InvalidRequest
from sigopt_service.http.context import service_of
from sigopt_service.http.parsing import cursor, path_id, read_body
from sigopt_service.http.query import parse_bool, parse_int, parse_limit, parse_search
from sigopt_service.http.responses import json_response, pagination, unpaged
from sigopt_service.models import BestAssignments, Experiment
from sigopt_service.store import (
    EXPERIMENT_SORTS,
    ExperimentListing,
    ExperimentStateFilter,
)

STATE_FILTERS = ("active", "deleted", "all")


#: The one client this service has (`http/clients.py`): every experiment's `client`.
IMPLICIT_CLIENT_ID = "1"


def _experiment_json(experiment: Experiment) -> dict[str, Any]:
    body = experiment.model_dump(mode="json")
    body["client"] = body.get("client") or IMPLICIT_CLIENT_ID
    return body


async def create_experiment(request: web.Request) -> web.Response:
    created = await service_of(request).create_experiment(await read_body(request))
    return json_response(request, _experiment_json(created))


def parse_listing(request: web.Request) -> tuple[ExperimentStateFilter, ExperimentListing, bool]:
    """The experiment list's query (sigopt-server's `list_base.py`): the state filter, the
    order and filters, and whether `user` or `development=true` asked for experiments this
    service never has (no users, no development tokens): then the list is empty."""
    q = request.query
    state = q.get("state", "active")
    if state not in STATE_FILTERS:
        raise InvalidRequest(
            f"Invalid value for `state`: {state!r:.40} (active, deleted, all)",
            field="state",
            code="invalid_value",
        )
    sort = q.get("sort", "id")
    if sort not in EXPERIMENT_SORTS:
        raise InvalidRequest(
            f"Invalid sort: {sort:.40} (supported: id, recent)", field="sort", code="invalid_value"
        )
    start, end = (
        parse_int(q.get("period_start"), "period_start"),
        parse_int(q.get("period_end"), "period_end"),
    )
    for name, value in (("period_start", start), ("period_end", end)):
        if value is not None and value < 0:
            raise InvalidRequest(
                f"Invalid period {name[7:]} timestamp: cannot be less than 0",
                field=name,
                code="invalid_value",
            )
    if start and end and end < start:
        raise InvalidRequest(
            "Invalid period range: end timestamp cannot be before start timestamp",
            field="period_end",
            code="invalid_value",
        )
    parse_bool(q.get("include_ai"), "include_ai")  # no AI experiments here: nothing to drop
    nobody = parse_int(q.get("user"), "user") is not None
    development = parse_bool(q.get("development"), "development")
    listing = ExperimentListing(
        sort=sort,
        ascending=parse_bool(q.get("ascending"), "ascending"),
        search=parse_search(q.get("search")),
        # 0 is no bound, as in SigOpt (`if period_start:`).
        created_from=start or None,
        created_before=end or None,
    )
    return cast(ExperimentStateFilter, state), listing, nobody or development


async def list_experiments(request: web.Request) -> web.Response:
    state, listing, empty = parse_listing(request)
    limit = parse_limit(request.query.get("limit"))
    before, _ = cursor(request)
    if empty:
        return json_response(request, unpaged([]))
    items, page = await service_of(request).list_experiments(state, listing, limit, before)
    return json_response(
        request, pagination([_experiment_json(e) for e in items], page, [int(e.id) for e in items])
    )


async def get_experiment(request: web.Request) -> web.Response:
    found = await service_of(request).get_experiment(path_id(request, "experiment_id"))
    return json_response(request, _experiment_json(found))


async def update_experiment(request: web.Request) -> web.Response:
    eid = path_id(request, "experiment_id")
    body = await read_body(request)
    updated = await service_of(request).update_experiment(eid, body)
    return json_response(request, _experiment_json(updated))


async def delete_experiment(request: web.Request) -> web.Response:
    await service_of(request).delete_experiment(path_id(request, "experiment_id"))
    return json_response(request, {})


async def best_assignments(request: web.Request) -> web.Response:
    best = await service_of(request).best_assignments(path_id(request, "experiment_id"))
    data = [
        BestAssignments(
            id=o.id, assignments=o.assignments, values=o.values, metadata=o.metadata
        ).to_wire()
        for o in best
    ]
    return json_response(request, unpaged(data))


async def stopping_criteria(request: web.Request) -> web.Response:
    reasons = await service_of(request).stopping_reasons(path_id(request, "experiment_id"))
    return json_response(
        request, {"object": "stopping_criteria", "should_stop": bool(reasons), "reasons": reasons}
    )
