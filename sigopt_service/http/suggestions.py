"""Handlers of the suggestion resource: `/v1/experiments/{id}/suggestions[/{id}]`.

A suggestion is made by the engine, or from the client's own assignments; with
`within_budget=true` it is refused once the observation budget is filled. Each handler
parses, makes one call to the use cases, renders.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sigopt_service.http.context import service_of
from sigopt_service.http.parsing import cursor, open_only_filter, path_id, read_body
from sigopt_service.http.query import parse_bool, parse_id_list, parse_limit
from sigopt_service.http.responses import json_response, pagination
from sigopt_service.models import Suggestion


def suggestion_json(s: Suggestion) -> dict[str, Any]:
    return s.model_dump(mode="json")


async def create_suggestion(request: web.Request) -> web.Response:
    eid = path_id(request, "experiment_id")
    body = await read_body(request)
    within_budget = parse_bool(request.query.get("within_budget"), "within_budget")
    created = await service_of(request).suggest(eid, body, within_budget=within_budget)
    return json_response(request, suggestion_json(created))


async def list_suggestions(request: web.Request) -> web.Response:
    eid, q = path_id(request, "experiment_id"), request.query
    open_only = open_only_filter(request)
    include_deleted = parse_bool(q.get("deleted"), "deleted")
    ids = parse_id_list(q.get("id"), "id")
    limit = parse_limit(q.get("limit"))
    before, _ = cursor(request)
    page = await service_of(request).list_suggestions(
        eid,
        open_only=open_only,
        include_deleted=include_deleted,
        ids=ids,
        limit=limit,
        cursor=before,
    )
    return json_response(
        request,
        pagination([suggestion_json(s) for s in page.items], page, [int(s.id) for s in page.items]),
    )


async def get_suggestion(request: web.Request) -> web.Response:
    eid, sid = path_id(request, "experiment_id"), path_id(request, "suggestion_id")
    return json_response(
        request, suggestion_json(await service_of(request).get_suggestion(eid, sid))
    )


async def update_suggestion(request: web.Request) -> web.Response:
    eid, sid = path_id(request, "experiment_id"), path_id(request, "suggestion_id")
    body = await read_body(request)
    updated = await service_of(request).update_suggestion(eid, sid, body)
    return json_response(request, suggestion_json(updated))


async def delete_suggestion(request: web.Request) -> web.Response:
    eid, sid = path_id(request, "experiment_id"), path_id(request, "suggestion_id")
    await service_of(request).delete_suggestion(eid, sid)
    return json_response(request, {})


async def delete_suggestions(request: web.Request) -> web.Response:
    eid = path_id(request, "experiment_id")
    open_only = open_only_filter(request)
    await service_of(request).delete_suggestions(eid, open_only=open_only)
    return json_response(request, {})
