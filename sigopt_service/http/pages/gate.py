"""The pages' middleware: who may see a page, and errors as pages.

Everything outside `/v1/` is a page (or its data, CSV, static file). Where the service
has tokens, a request needs a valid one, as the API does, sent either as HTTP Basic (the
token as user name) or through a login session cookie (`sessions.py`); a browser without
either is sent to the login form, anything else gets a 401. `/login` and the static files
are open. The token's scope holds here as on the API (`http/access.py`: a read-only token
only looks, an experiment's token sees that experiment, `/tokens` is an admin's). Errors
a page handler raises are rendered as an HTML page with the status the API would answer;
the API keeps its own auth and JSON error bodies (`middlewares.py`).
"""

from __future__ import annotations

import time
from urllib.parse import quote

from aiohttp import web

from sigopt_service.errors import InvalidRequest, OptimizationServiceError
from sigopt_service.http.access import (
    CALLER,
    OPEN,
    Caller,
    Redirect,
    auth_required,
    page_refusal,
    signed_in,
    token_of,
)
from sigopt_service.http.middlewares import Handler, api_error_for
from sigopt_service.http.pages.rendering import error_page, see_other
from sigopt_service.http.pages.sessions import BY_SESSION, COOKIE_NAME, SESSIONS

LOGIN_PATH = "/login"
_OPEN_PREFIXES = ("/static/",)


def is_api_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def is_local_path(target: str) -> bool:
    """A path on this host (what `next=` may name): no scheme, no `//host`, no `\\`, and
    nothing but printable non-space characters. Browsers drop tabs and line breaks from a
    URL before reading it, so `/<TAB>/evil.example` would lead to `//evil.example`; and a
    line break cannot go in a `Location` header at all."""
    return (
        target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and target.isprintable()
        and not any(c.isspace() for c in target)
    )


def _basic_token(request: web.Request) -> str | None:
    try:
        return token_of(request)
    except InvalidRequest:  # another scheme (Bearer ...): no Basic token, not an error here
        return None


async def page_caller(request: web.Request) -> Caller | None:
    """Who the request is signed in as, by a valid token as HTTP Basic or through a
    session; None: nobody. A session found is remembered on the request (the page offers
    to sign out); one whose token was revoked or expired meanwhile is closed."""
    if not auth_required(request):
        return OPEN
    basic = _basic_token(request)
    if basic:
        caller = await signed_in(request, basic)
        if caller is not None:
            return caller
    sid = request.cookies.get(COOKIE_NAME)
    if not sid:
        return None
    sessions = request.app[SESSIONS]
    secret = sessions.token_of(sid, now=time.monotonic())
    caller = None if secret is None else await signed_in(request, secret)
    if caller is None:
        sessions.close(sid)
        return None
    request[BY_SESSION] = True
    return caller


def _refused(request: web.Request) -> web.StreamResponse:
    """A browser's navigation goes to the login form; anything else (a script, the page's
    own fetches once its session expired) gets a 401."""
    if request.method in ("GET", "HEAD") and "text/html" in request.headers.get("Accept", ""):
        target = quote(request.path_qs, safe="/?=&:")
        return see_other(f"{LOGIN_PATH}?next={target}")
    return error_page(request, 401, "Sign in with the service's API token first.")


@web.middleware
async def page_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_api_path(request.path):
        return await handler(request)
    is_open = request.path == LOGIN_PATH or request.path.startswith(_OPEN_PREFIXES)
    if not is_open:
        caller = await page_caller(request)
        if caller is None:
            return _refused(request)
        request[CALLER] = caller
        refusal = page_refusal(request, caller)
        if isinstance(refusal, Redirect):
            return see_other(refusal.location)
        if refusal is not None:
            return error_page(request, refusal.status, refusal.message)
    try:
        return await handler(request)
    except OptimizationServiceError as exc:
        mapped = api_error_for(exc)
        if mapped is None:
            raise  # a database failure: the error middleware logs it and answers 500
        return error_page(request, mapped.status, mapped.message)
    except web.HTTPException as exc:
        if exc.status == 404:
            return error_page(request, 404, f"No page at {request.path}")
        if exc.status == 405:
            return error_page(request, 405, f"{request.method} is not allowed here")
        raise
