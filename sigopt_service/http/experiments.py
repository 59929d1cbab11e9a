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
from sigopt_service.http.query import parse_limit
from sigopt_service.http.responses import json_response, pagination, unpaged
from sigopt_service.models import BestAssignments, Experiment
from sigopt_service.store import ExperimentStateFilter

STATE_FILTERS = ("active", "deleted", "all")


def _experiment_json(experiment: Experiment) -> dict[str, Any]:
    return experiment.model_dump(mode="json")


async def create_experiment(request: web.Request) -> web.Response:
    created = await service_of(request).create_experiment(await read_body(request))
    return json_response(request, _experiment_json(created))


async def list_experiments(request: web.Request) -> web.Response:
    q = request.query
    state = q.get("state", "active")
    if state not in STATE_FILTERS:
        raise InvalidRequest(
            f"Invalid value for `state`: {state!r:.40} (active, deleted, all)",
            field="state",
            code="invalid_value",
        )
    limit = parse_limit(q.get("limit"))
    before, _ = cursor(request)
    items, page = await service_of(request).list_experiments(
        cast(ExperimentStateFilter, state), limit, before
    )
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
