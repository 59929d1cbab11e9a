"""Handlers of the queued-suggestion resource: `/v1/experiments/{id}/queued_suggestions[/{id}]`
(sigopt-server's `handlers/experiments/queued_suggestions/`).

A queued suggestion is assignments the next `POST .../suggestions` (or `next_suggestion`)
serves before the optimizer is asked, oldest first; served, it leaves the queue. Each
handler parses, makes one call to the use cases, renders.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sigopt_service.http.context import service_of
from sigopt_service.http.parsing import cursor, path_id, read_body
from sigopt_service.http.query import parse_limit
from sigopt_service.http.responses import json_response, pagination
from sigopt_service.models import QueuedSuggestion


def _queued_json(queued: QueuedSuggestion) -> dict[str, Any]:
    return queued.model_dump(mode="json")


async def create_queued_suggestion(request: web.Request) -> web.Response:
    eid = path_id(request, "experiment_id")
    created = await service_of(request).queue_suggestion(eid, await read_body(request))
    return json_response(request, _queued_json(created))


async def list_queued_suggestions(request: web.Request) -> web.Response:
    """Newest first; `after` pages oldest first, in the order they will be served."""
    eid = path_id(request, "experiment_id")
    position, after = cursor(request, after_allowed=True)
    limit = parse_limit(request.query.get("limit"))
    page = await service_of(request).list_queued_suggestions(
        eid, ascending=after, limit=limit, cursor=position
    )
    return json_response(
        request,
        pagination(
            [_queued_json(q) for q in page.items],
            page,
            [int(q.id) for q in page.items],
            follow_after=after,
        ),
    )


async def get_queued_suggestion(request: web.Request) -> web.Response:
    eid, qid = path_id(request, "experiment_id"), path_id(request, "queued_suggestion_id")
    found = await service_of(request).get_queued_suggestion(eid, qid)
    return json_response(request, _queued_json(found))


async def delete_queued_suggestion(request: web.Request) -> web.Response:
    eid, qid = path_id(request, "experiment_id"), path_id(request, "queued_suggestion_id")
    await service_of(request).delete_queued_suggestion(eid, qid)
    return json_response(request, {})
