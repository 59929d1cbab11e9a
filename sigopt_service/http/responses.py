"""Rendering: JSON bodies, SigOpt's error body (plus our `field` and `code`), paging.

Every error body is `{"message", "status", "field", "code"}`: SigOpt's `message` and
`status`, the key path the error is about (None where none applies) and a stable code
from `sigopt_service.errors.CODES`.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from sigopt_service.errors import ApiError, ErrorCode
from sigopt_service.http.query import encode_marker
from sigopt_service.store import Page

JSON_HEADERS = {"Cache-Control": "no-cache, no-store"}


def json_response(request: web.Request, body: Any, status: int = 200) -> web.Response:
    if request.headers.get("X-Response-Content", "").lower() == "skip":
        return web.Response(status=204, headers=JSON_HEADERS)
    return web.Response(
        status=status,
        text=json.dumps(body, allow_nan=False),
        content_type="application/json",
        headers=JSON_HEADERS,
    )


def error_body(
    status: int, message: str, *, code: ErrorCode, field: str | None = None
) -> dict[str, Any]:
    return {"message": message, "status": status, "field": field, "code": code}


def error_of(exc: ApiError) -> dict[str, Any]:
    return error_body(exc.status, exc.message, code=exc.code, field=exc.field)


def error_response(
    status: int,
    message: str,
    *,
    code: ErrorCode,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(error_body(status, message, code=code, field=field)),
        content_type="application/json",
        headers={**JSON_HEADERS, **(headers or {})},
    )


def api_error_response(exc: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    return error_response(exc.status, exc.message, code=exc.code, field=exc.field, headers=headers)


def pagination(
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


def unpaged(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A whole list in SigOpt's pagination envelope (no further page)."""
    return {
        "object": "pagination",
        "count": len(items),
        "data": items,
        "paging": {"before": None, "after": None},
    }
