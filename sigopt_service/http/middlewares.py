"""The middlewares, outermost first: error rendering, authentication, rate limiting.

Errors are data at this boundary, and only here: an `ApiError` is rendered as its body,
a store error is mapped to one once (`api_error_for`), aiohttp's own 404/405/413 get the
same body, and anything else is a 500, logged once with its traceback.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from sigopt_service.errors import (
    AlreadyObserved,
    ApiError,
    Conflict,
    ErrorCode,
    InvalidRequest,
    NotFound,
    OptimizationServiceError,
    RateLimited,
    RecordNotFound,
    Unauthorized,
    UnknownSuggestion,
    UnstorableText,
)
from sigopt_service.http.access import (
    CALLER,
    OPEN,
    Caller,
    auth_required,
    check_api_access,
    identify,
    token_of,
)
from sigopt_service.http.access import token_is_known as token_is_known  # re-exported
from sigopt_service.http.context import config_of
from sigopt_service.http.responses import api_error_response, error_response

log = structlog.get_logger()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Paths that need no token: the API description is public so it can be browsed and fuzzed.
PUBLIC_PATHS = frozenset({"/v1/openapi.json"})
INTERNAL_ERROR_MESSAGE = "An unexpected server error has occurred."


def api_error_for(exc: OptimizationServiceError) -> ApiError | None:
    """The API error a service error is answered with; None: a 500 (`DatabaseError`).
    The one place where store errors get an HTTP status."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RecordNotFound):
        return NotFound(exc.message, code="not_found")
    if isinstance(exc, UnknownSuggestion):
        return InvalidRequest(exc.message, field="suggestion", code="unknown_suggestion")
    if isinstance(exc, AlreadyObserved):
        return Conflict(exc.message, field="suggestion", code="already_observed")
    if isinstance(exc, UnstorableText):
        return InvalidRequest(exc.message, code="invalid_value")
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RateLimited as exc:
        retry_after = str(max(1, round(exc.retry_after_s)))
        return api_error_response(exc, {"Retry-After": retry_after})
    except Unauthorized as exc:
        return api_error_response(exc, {"WWW-Authenticate": 'Basic realm="SigOpt API"'})
    except OptimizationServiceError as exc:
        mapped = api_error_for(exc)
        if mapped is None:
            return _internal_error(request)
        return api_error_response(mapped)
    except web.HTTPException as exc:
        return _http_exception_response(request, exc)
    except Exception:
        return _internal_error(request)


def _internal_error(request: web.Request) -> web.Response:
    """A 500 that tells the client no internals; called inside the `except` so the log
    line carries the traceback."""
    log.exception("unhandled_error", method=request.method, path=request.path)
    return error_response(500, INTERNAL_ERROR_MESSAGE, code="internal_error")


def _http_exception_response(request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
    if exc.status == 404:
        return error_response(404, f"Endpoint not found: {request.path}", code="endpoint_not_found")
    if exc.status == 405:
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
        return error_response(
            405,
            f"This endpoint accepts only the following methods: {allowed}",
            code="method_not_allowed",
        )
    if exc.status == 413:
        limit = config_of(request).max_body_bytes
        return error_response(
            413, f"Request body is larger than the limit of {limit} bytes", code="body_too_large"
        )
    code: ErrorCode = "invalid_request" if 400 <= exc.status < 500 else "internal_error"
    return error_response(exc.status, exc.reason or "HTTP error", code=code)


async def _caller(request: web.Request) -> Caller:
    """The request's caller (`http/access.py`), or Unauthorized / the refusal of its scope."""
    if not auth_required(request):
        return OPEN
    caller = await identify(request, token_of(request))
    check_api_access(request, caller)
    return caller


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Paths outside /v1/ are the pages': their own gate also takes a login session and
    # sends a browser to the login form (`http/pages/gate.py`). The check runs in its own
    # frame: no token is a local of a frame that stays on the stack while the handler
    # runs, so a traceback that shows locals cannot print one.
    if request.path.startswith("/v1/") and request.path not in PUBLIC_PATHS:
        request[CALLER] = await _caller(request)
    return await handler(request)


class RateLimiter:
    """Fixed one-second windows per caller, as sigopt-server counts them."""

    def __init__(self, per_s: float) -> None:
        self.per_s = per_s
        self._windows: dict[str, tuple[int, int]] = {}

    def __repr__(self) -> str:
        return f"<RateLimiter per_s={self.per_s} callers={len(self._windows)}>"

    def check(self, key: str, now: float) -> None:
        window = int(now)
        start, count = self._windows.get(key, (window, 0))
        if start != window:
            start, count = window, 0
            if len(self._windows) > 10_000:  # bound memory: forget callers of past windows
                self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        if count >= self.per_s:
            raise RateLimited(
                "Your account has been temporarily disabled because of too many requests. "
                "Please wait a few minutes and try again more slowly.",
                retry_after_s=1.0 - (now - window),
            )
        self._windows[key] = (start, count + 1)


RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    limiter = request.app.get(RATE_LIMITER)
    if limiter is not None:
        key = request.headers.get("Authorization") or request.remote or "anonymous"
        limiter.check(key, time.monotonic())
    return await handler(request)


MIDDLEWARES = (error_middleware, auth_middleware, rate_limit_middleware)
