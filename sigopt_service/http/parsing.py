"""Request parsing shared by the handlers: path ids, the JSON body, paging cursors.

Values of the query string are parsed by `query.py`, the body text by `json_body.py`.
"""

from __future__ import annotations

import re
from typing import Any

import anyio.to_thread
from aiohttp import web

from sigopt_service.errors import InvalidRequest, NotFound
from sigopt_service.http.json_body import check_content_type, parse_json_body
from sigopt_service.http.query import decode_marker
from sigopt_service.limits import MAX_ID

_ID_SEGMENT = re.compile(r"[0-9]{1,19}")
PARSE_IN_THREAD_BYTES = 64 * 1024


def path_id(request: web.Request, name: str) -> int:
    """The id in path segment `name`; an id that names no row is an unknown endpoint."""
    raw = request.match_info[name]
    # Not str.isdigit(): it is true for "³" and "٣", which int() then refuses (a 500).
    if not _ID_SEGMENT.fullmatch(raw) or not 0 < int(raw) <= MAX_ID:
        raise NotFound(f"Endpoint not found: {request.path}", code="endpoint_not_found")
    return int(raw)


async def read_body(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object (`{}` when empty); 400/415 when it is not one."""
    raw = await request.read()
    if raw.strip():
        check_content_type(request.content_type, request.charset)
    if len(raw) < PARSE_IN_THREAD_BYTES:
        return parse_json_body(raw)
    # Parsing and checking a body of megabytes is slow: not on the event loop, where it
    # would stall every other request meanwhile.
    return await anyio.to_thread.run_sync(parse_json_body, raw)


def cursor(request: web.Request, *, after_allowed: bool = False) -> tuple[int | None, bool]:
    """The listing's cursor and whether `after` asked for ascending order."""
    before, after = request.query.get("before"), request.query.get("after")
    if before is not None and after is not None:
        raise InvalidRequest("Provide at most one of `before` and `after`")
    if after is not None:
        if not after_allowed:
            raise InvalidRequest(
                "`after` paging is not supported on this list; use `before`",
                field="after",
                code="invalid_value",
            )
        return decode_marker(after, "after"), True
    return (None if before is None else decode_marker(before, "before")), False


def open_only_filter(request: web.Request) -> bool:
    """`state=open` (the only state filter SigOpt has for suggestions); absent: all."""
    state = request.query.get("state")
    if state is None:
        return False
    if state != "open":
        raise InvalidRequest(
            f"Unrecognized state {state:.40} (if provided, must be open)",
            field="state",
            code="invalid_value",
        )
    return True
