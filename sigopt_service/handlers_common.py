"""Shared plumbing of the route handlers: the service state, path ids, JSON bodies, paging
and the checks several resources share.

The handlers themselves live in `handlers_experiments.py`, `handlers_suggestions.py` and
`handlers_observations.py`; the route table in `handlers.py`.
"""

from __future__ import annotations

import re
from typing import Any

import anyio.to_thread
from aiohttp import web

from sigopt_service.app import STATE, ServiceState
from sigopt_service.errors import InvalidRequest, NotFound
from sigopt_service.json_body import check_content_type, parse_json_body
from sigopt_service.models import Experiment, ExperimentState
from sigopt_service.query import MAX_ID, decode_marker, encode_marker
from sigopt_service.store import Page

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


def _require_active(experiment: Experiment, what: str) -> None:
    if experiment.state is ExperimentState.DELETED:
        raise InvalidRequest(f"Cannot create {what} for deleted experiment {experiment.id}")
