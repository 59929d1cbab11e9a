"""Handlers of the experiment resource: `/v1/experiments[/{id}]`, plus the views derived
from an experiment's observations (`best_assignments`, `stopping_criteria`).

Each handler parses, makes one call to the use cases, renders.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from aiohttp import web

from sigopt_service.errors import InvalidRequest
from sigopt_service.http.context import service_of
from sigopt_service.http.parsing import cursor, path_id, read_body
from sigopt_service.http.query import parse_bool, parse_int, parse_limit, parse_search
from sigopt_service.http.responses import json_response, pagination, unpaged
from sigopt_service.http.run_json import aiexperiment_json
from sigopt_service.models import BestAssignments, Experiment
from sigopt_service.store import (
    EXPERIMENT_SORTS,
    ExperimentListing,
    ExperimentStateFilter,
)

STATE_FILTERS = ("active", "deleted", "all")


#: The one client this service has (`http/clients.py`): every experiment's `client`.
IMPLICIT_CLIENT_ID = "1"


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    if experiment.runs_only:  # in a list with `include_ai`: as `/v1/aiexperiments` shows it
        return aiexperiment_json(experiment)
    body = experiment.model_dump(mode="json")
    body["client"] = body.get("client") or IMPLICIT_CLIENT_ID
    return body


async def create_experiment(request: web.Request) -> web.Response:
    created = await service_of(request).create_experiment(await read_body(request))
    return json_response(request, experiment_json(created))


def parse_listing(
    request: web.Request, *, after: bool = False
) -> tuple[ExperimentStateFilter, ExperimentListing, bool]:
    """The experiment list's query (sigopt-server's `list_base.py`): the state filter, the
    order and filters (`development` keeps development experiments, or the others), and
    whether `user` asked for experiments this service never has (no users): then the list
    is empty. `after` paging orders the list oldest first, as on observations."""
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
    # AI experiments are left out unless asked for (sigopt-server's `include_ai`).
    include_ai = parse_bool(q.get("include_ai"), "include_ai")
    nobody = parse_int(q.get("user"), "user") is not None
    development = q.get("development")
    listing = ExperimentListing(
        sort=sort,
        ascending=after or parse_bool(q.get("ascending"), "ascending"),
        search=parse_search(q.get("search")),
        # 0 is no bound, as in SigOpt (`if period_start:`).
        created_from=start or None,
        created_before=end or None,
        development=None if development is None else parse_bool(development, "development"),
        runs_only=None if include_ai else False,
    )
    return cast(ExperimentStateFilter, state), listing, nobody


async def list_experiments(request: web.Request) -> web.Response:
    return await experiments_page(request)


async def experiments_page(
    request: web.Request, *, project: str | None = None, ai: bool = False
) -> web.Response:
    """An experiment list (`GET /v1/experiments`' query), every one shares: of one
    project, and of AI experiments only (`ai`) or as `include_ai` says."""
    position, after = cursor(request, after_allowed=True)
    state, listing, empty = parse_listing(request, after=after)
    listing = dataclasses.replace(
        listing, project=project, runs_only=True if ai else listing.runs_only
    )
    limit = parse_limit(request.query.get("limit"))
    if empty:
        return json_response(request, unpaged([]))
    items, page = await service_of(request).list_experiments(state, listing, limit, position)
    return json_response(
        request,
        pagination(
            [experiment_json(e) for e in items],
            page,
            [int(e.id) for e in items],
            follow_after=after,
        ),
    )


async def get_experiment(request: web.Request) -> web.Response:
    found = await service_of(request).get_experiment(path_id(request, "experiment_id"))
    if found.runs_only:
        # sigopt-server's `redirect_ai_experiments`: an AI experiment lives at its own URL.
        moved = request.path_qs.replace("/v1/experiments/", "/v1/aiexperiments/", 1)
        return web.json_response(
            {"message": "The requested resource has moved", "status": 301},
            status=301,
            headers={"Location": moved},
        )
    return json_response(request, experiment_json(found))


async def update_experiment(request: web.Request) -> web.Response:
    eid = path_id(request, "experiment_id")
    body = await read_body(request)
    updated = await service_of(request).update_experiment(eid, body)
    return json_response(request, experiment_json(updated))


async def delete_experiment(request: web.Request) -> web.Response:
    await service_of(request).delete_experiment(path_id(request, "experiment_id"))
    return json_response(request, {})


async def best_assignments(request: web.Request) -> web.Response:
    best = await service_of(request).best_assignments(path_id(request, "experiment_id"))
    data = [
        BestAssignments(
            id=o.id,
            assignments=o.assignments,
            values=o.values,
            metadata=o.metadata,
            task=None if o.task is None else o.task.name,
        ).to_wire()
        for o in best
    ]
    return json_response(request, unpaged(data))


async def stopping_criteria(request: web.Request) -> web.Response:
    reasons = await service_of(request).stopping_reasons(path_id(request, "experiment_id"))
    return json_response(
        request, {"object": "stopping_criteria", "should_stop": bool(reasons), "reasons": reasons}
    )
