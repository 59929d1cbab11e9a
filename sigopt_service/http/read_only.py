"""The service's read-only mode (`ServiceConfig.read_only`, `--read-only`): what
`orchestrator dashboard` serves a run's database with, to look at and nothing else.

Two locks, one per layer. This middleware refuses every request that could write (any
method but GET, HEAD and OPTIONS) with a 405 that says why, before a handler runs; and the
store's connection is query-only (`usecases.open_store`), so a write that got past it
would fail in SQLite itself. The page login (`POST /login`) writes nothing to the
database and stays allowed, so a token-protected dashboard can still be signed into.
"""

from __future__ import annotations

from aiohttp import web

from sigopt_service.http.middlewares import Handler
from sigopt_service.http.responses import error_response

#: The methods a read-only service answers.
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
#: Requests with a writing method that change nothing in the database: (method, path).
ALLOWED_WRITES = frozenset({("POST", "/login"), ("POST", "/logout")})


def refusal(request: web.Request) -> web.Response:
    """The 405 for a write to a read-only service, with `Allow` as RFC 9110 asks."""
    return error_response(
        405,
        f"This service is read-only: {request.method} {request.path} is refused. It serves "
        f"a database to look at and accepts only {', '.join(SAFE_METHODS)}.",
        code="method_not_allowed",
        headers={"Allow": ", ".join(SAFE_METHODS)},
    )


@web.middleware
async def read_only_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in SAFE_METHODS or (request.method, request.path) in ALLOWED_WRITES:
        return await handler(request)
    return refusal(request)
