"""The login form (`GET`/`POST /login`) and sign-out (`POST /logout`).

A correct token opens a session (`sessions.py`) and sets its id as an HttpOnly,
SameSite=Strict cookie; the token itself is never in the cookie. Against cross-site
request forgery (a foreign page logging the browser in with the attacker's token, or out),
both POSTs are refused unless the browser says the request comes from this very origin:
`Origin` must match the host asked for, and `Sec-Fetch-Site`, where sent, must be
`same-origin` (or `none`: typed by the user). SameSite=Strict keeps the cookie off every
request another site starts.
"""

from __future__ import annotations

import time

from aiohttp import web

from sigopt_service.http.access import auth_required, signed_in
from sigopt_service.http.pages.gate import is_local_path, page_caller
from sigopt_service.http.pages.rendering import error_page, render, see_other
from sigopt_service.http.pages.sessions import COOKIE_NAME, SESSIONS

#: A token longer than this is no token of ours: refused before comparing.
_MAX_TOKEN_CHARS = 4096


def _next_of(raw: str | None) -> str:
    return raw if raw and is_local_path(raw) else "/"


def is_same_origin(request: web.Request) -> bool:
    """Whether a form post comes from this service's own page (the CSRF check every
    form of the pages makes; see the module docstring)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    # No Origin: not a browser's cross-site form post (browsers send it on every POST).
    return origin is None or origin == f"{request.scheme}://{request.host}"


def cross_site_refusal(request: web.Request, refused: str = "Refused") -> web.Response:
    """The 403 page for a form post `is_same_origin` turns down."""
    return error_page(
        request, 403, f"{refused}: the form was not sent from this service's own page."
    )


async def login_form(request: web.Request) -> web.Response:
    next_path = _next_of(request.query.get("next"))
    if not auth_required(request) or await page_caller(request) is not None:
        return see_other(next_path)
    return render(request, "login.html", next_path=next_path, message=None)


async def login(request: web.Request) -> web.Response:
    if not is_same_origin(request):
        return cross_site_refusal(request, "Sign-in refused")
    form = await request.post()
    next_path = _next_of(str(form.get("next", "")) or None)
    if not auth_required(request):
        return see_other(next_path)
    token = str(form.get("token", "")).strip()
    if not token or len(token) > _MAX_TOKEN_CHARS or await signed_in(request, token) is None:
        return render(
            request, "login.html", status=401, next_path=next_path, message="Unknown token."
        )
    sid = request.app[SESSIONS].open(token, now=time.monotonic())
    response = see_other(next_path)
    response.set_cookie(
        COOKIE_NAME,
        sid,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    if not is_same_origin(request):
        return cross_site_refusal(request, "Sign-out refused")
    sid = request.cookies.get(COOKIE_NAME)
    if sid:
        request.app[SESSIONS].close(sid)
    response = see_other("/login")
    response.del_cookie(COOKIE_NAME, path="/")
    return response
