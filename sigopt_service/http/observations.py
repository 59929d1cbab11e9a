"""Handlers of the observation resource: `/v1/experiments/{id}/observations[/{id}]` and
the all-or-nothing `observations/batch`.

`POST .../observations` with `"next_suggestion"` in the body is observe-and-suggest (our
extension): the answer is the observation's fields plus `next_suggestion` (or null) and,
when none could be made, `next_suggestion_refused` with the error's status, message,
field and code. Each handler parses, makes one call to the use cases, renders.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sigopt_service.errors import ApiError
from sigopt_service.http.context import service_of
from sigopt_service.http.middlewares import api_error_for
from sigopt_service.http.parsing import cursor, path_id, read_body
from sigopt_service.http.query import parse_bool, parse_limit, parse_observation_sort
from sigopt_service.http.responses import error_of, json_response, pagination, unpaged
from sigopt_service.http.suggestions import suggestion_json
from sigopt_service.models import Observation
from sigopt_service.usecases import Observed

REFUSED_UNEXPECTEDLY = "An unexpected server error prevented the next suggestion."


def _observation_json(o: Observation) -> dict[str, Any]:
    return o.to_wire()


def _observed_json(observed: Observed) -> dict[str, Any]:
    answer = _observation_json(observed.observation)
    if observed.wants_next:
        suggestion = observed.next_suggestion
        answer["next_suggestion"] = None if suggestion is None else suggestion_json(suggestion)
        if observed.refused is not None:
            refused = api_error_for(observed.refused) or ApiError(REFUSED_UNEXPECTEDLY)
            answer["next_suggestion_refused"] = error_of(refused)
    return answer


async def create_observation(request: web.Request) -> web.Response:
    eid = path_id(request, "experiment_id")
    body = await read_body(request)
    within_budget = parse_bool(request.query.get("within_budget"), "within_budget")
    observed = await service_of(request).observe(eid, body, within_budget=within_budget)
    return json_response(request, _observed_json(observed))


async def create_observation_batch(request: web.Request) -> web.Response:
    eid = path_id(request, "experiment_id")
    body = await read_body(request)
    created = await service_of(request).observe_batch(eid, body)
    return json_response(request, unpaged([_observation_json(o) for o in created]))


async def list_observations(request: web.Request) -> web.Response:
    """`sort` as sigopt-server names it (`id`, `timestamp`, `value`, `value-<metric>`,
    `value_stddev[-<metric>]`, `parameter-<name>`), newest or largest first unless
    `ascending`; `after` pages the other way, as `ascending` does."""
    eid, q = path_id(request, "experiment_id"), request.query
    position, after = cursor(request, after_allowed=True)
    ascending = after or parse_bool(q.get("ascending"), "ascending")
    order = parse_observation_sort(q.get("sort"), ascending)
    # SigOpt's `deleted=true` lists the deleted observations only (observations/detail.py).
    deleted_only = parse_bool(q.get("deleted"), "deleted")
    limit = parse_limit(q.get("limit"))
    page = await service_of(request).list_observations(
        eid, order, deleted_only=deleted_only, limit=limit, cursor=position
    )
    return json_response(
        request,
        pagination(
            [_observation_json(o) for o in page.items],
            page,
            [int(o.id) for o in page.items],
            follow_after=after,
        ),
    )


async def get_observation(request: web.Request) -> web.Response:
    eid, oid = path_id(request, "experiment_id"), path_id(request, "observation_id")
    found = await service_of(request).get_observation(eid, oid)
    return json_response(request, _observation_json(found))


async def update_observation(request: web.Request) -> web.Response:
    eid, oid = path_id(request, "experiment_id"), path_id(request, "observation_id")
    body = await read_body(request)
    updated = await service_of(request).update_observation(eid, oid, body)
    return json_response(request, _observation_json(updated))


async def delete_observation(request: web.Request) -> web.Response:
    eid, oid = path_id(request, "experiment_id"), path_id(request, "observation_id")
    await service_of(request).delete_observation(eid, oid)
    return json_response(request, {})


async def delete_observations(request: web.Request) -> web.Response:
    await service_of(request).delete_observations(path_id(request, "experiment_id"))
    return json_response(request, {})
