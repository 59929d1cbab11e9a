"""The API tokens page (`/tokens`, an admin token's only; the gate checks): the active
tokens, a form that creates one and shows its secret once, and a revoke button on each.

```
GET  /tokens                    the list and the form
POST /tokens                    create: the same page, with the new secret, once
POST /tokens/{id}/revoke        revoke, then back to the list (303)
```
The page makes the same use-case calls as the API (`service.tokens`), so its rules are
the API's: an experiment's token is read-only, an expiry is a duration (`30d`) or a date
(`validation.token.parse_expiry`), a bad field is shown beside the form (400). Both POSTs
are refused unless they come from this service's own page (`login.is_same_origin`, the
login form's CSRF check); the session cookie is SameSite=Strict besides. The secret is
in the one answer to the create, which no cache keeps (`Cache-Control: no-store`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sigopt_service.errors import ApiError, InvalidRequest, RecordNotFound
from sigopt_service.http.context import service_of
from sigopt_service.http.pages.login import cross_site_refusal, is_same_origin
from sigopt_service.http.pages.rendering import render, see_other
from sigopt_service.http.parsing import path_id
from sigopt_service.store import StoredToken
from sigopt_service.validation.token import parse_expiry

#: Tokens the page lists at most (newest first); the API pages through any number.
MAX_LISTED = 1000
#: The access the form offers: (value of `permissions`, label).
ACCESS_CHOICES = (
    ("write", "read-write"),
    ("read", "read-only"),
    ("admin", "admin (manages tokens)"),
)


def access_label(token: StoredToken) -> str:
    if token.experiment is not None:
        return f"experiment {token.experiment}, read-only"
    return dict(ACCESS_CHOICES)[token.permissions].split(" ")[0]


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    issued: tuple[StoredToken, str] | None = None,
    message: str | None = None,
    form: dict[str, str] | None = None,
) -> web.Response:
    tokens = service_of(request).tokens
    listed = await tokens.listing(limit=MAX_LISTED, cursor=None)
    return render(
        request,
        "tokens.html",
        status=status,
        tokens=listed.items,
        total=listed.count,
        now=tokens.now(),
        access_label=access_label,
        choices=ACCESS_CHOICES,
        issued=issued,
        message=message,
        form=form or {},
    )


async def token_list(request: web.Request) -> web.Response:
    return await _page(request)


def _create_body(form: dict[str, str]) -> dict[str, Any]:
    """The API's create body from the form's fields (an empty field: not given)."""
    body: dict[str, Any] = {"permissions": form.get("permissions") or "write"}
    if form.get("name"):
        body["name"] = form["name"]
    if form.get("experiment"):
        body["experiment"] = form["experiment"].strip()
        if body["permissions"] == "write":
            body["permissions"] = "read"  # the form's default; an experiment's is read-only
    if form.get("expires"):
        try:
            body["expires"] = parse_expiry(form["expires"], now=datetime.now(UTC))
        except ValueError as exc:
            raise InvalidRequest(f"Expires: {exc}", field="expires", code="invalid_value") from None
    return body


async def create_token(request: web.Request) -> web.Response:
    if not is_same_origin(request):
        return cross_site_refusal(request)
    posted = await request.post()
    form = {k: str(posted.get(k, "")) for k in ("name", "permissions", "experiment", "expires")}
    try:
        issued = await service_of(request).tokens.create(_create_body(form))
    except (InvalidRequest, RecordNotFound) as exc:
        # Shown beside the form, which keeps what was typed.
        status = exc.status if isinstance(exc, ApiError) else 404
        return await _page(request, status=status, message=exc.message, form=form)
    return await _page(request, issued=(issued.token, issued.secret))


async def revoke_token(request: web.Request) -> web.Response:
    if not is_same_origin(request):
        return cross_site_refusal(request)
    await service_of(request).tokens.revoke(path_id(request, "token_id"))
    return see_other("/tokens")
