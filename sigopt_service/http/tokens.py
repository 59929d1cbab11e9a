"""Handlers of API tokens: `/v1/clients/{id}/tokens` (list, create), `/v1/experiments/{id}
/tokens` (an experiment's share token), `/v1/tokens/{id}` (fetch, update, revoke), where
`{id}` may be `self`: the token the request carries (sigopt-server's
`handlers/clients/tokens.py`; the official client calls `tokens("self").fetch()`).

A token is SigOpt's object (`token`, `token_type`, `permissions`, `scope`,
`all_experiments`, `experiment`, `client`, `user`, `development`, `expires`), plus ours:
`id` (sigopt-server named a token by its secret, which is not stored here), `name`,
`created`, `last_used`. `token`, the secret, is in the answer that creates or rotates it
and nowhere else (null). Who may call what: `http/access.py`, and here, for one token:
an admin any token, any other caller its own (`self`): read it; rotate it if it may write.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sigopt_service.errors import Forbidden
from sigopt_service.http.access import CALLER, Caller
from sigopt_service.http.accounts import client_id_of
from sigopt_service.http.context import service_of
from sigopt_service.http.experiments import IMPLICIT_CLIENT_ID
from sigopt_service.http.parsing import cursor, path_id, read_body
from sigopt_service.http.query import parse_limit
from sigopt_service.http.responses import json_response, pagination
from sigopt_service.store import StoredToken

SELF = "self"


def token_json(token: StoredToken, secret: str | None = None) -> dict[str, Any]:
    """A stored token as SigOpt's object; `secret` only when creating or rotating it."""
    shared = token.experiment is not None
    return {
        "object": "token",
        "id": str(token.id),
        "name": token.name,
        "token": secret,
        "token_type": "guest" if shared else "client-api",
        "permissions": token.permissions,
        "scope": "shared_experiment" if shared else "all_endpoints",
        "all_experiments": not shared,
        "experiment": None if token.experiment is None else str(token.experiment),
        "training_run": None,
        "client": IMPLICIT_CLIENT_ID,
        "user": None,
        "development": False,
        "expires": token.expires,
        "created": token.created,
        "last_used": token.last_used,
    }


def caller_json(caller: Caller) -> dict[str, Any]:
    """`GET /v1/tokens/self` for a token that is not stored: one given to the service at
    start (`configured`), or any token on a service without tokens (`open`)."""
    return {
        "object": "token",
        "id": None,
        "name": "--token" if caller.kind == "configured" else None,
        "token": None,
        "token_type": "client-api",
        "permissions": caller.permissions,
        "scope": "all_endpoints",
        "all_experiments": True,
        "experiment": None,
        "training_run": None,
        "client": IMPLICIT_CLIENT_ID,
        "user": None,
        "development": False,
        "expires": None,
        "created": None,
        "last_used": None,
    }


def _token_id(request: web.Request, caller: Caller) -> int | None:
    """The token the path names: an id, or `self` (None: the caller's is not stored).
    A caller but an admin may name only its own."""
    if request.match_info["token_id"] == SELF:
        return caller.token_id
    token_id = path_id(request, "token_id")
    if not caller.is_admin and token_id != caller.token_id:
        raise Forbidden("Only an admin token reads or changes another token.")
    return token_id


def _not_stored(caller: Caller) -> Forbidden:
    return Forbidden(
        "This token is not stored: it was given to the service at start (or the service "
        "has no tokens); change it where the service is started."
        if caller.kind == "configured"
        else "This service runs without tokens: there is no token to change."
    )


async def list_client_tokens(request: web.Request) -> web.Response:
    client_id_of(request)
    position, _ = cursor(request)
    limit = parse_limit(request.query.get("limit"))
    page = await service_of(request).tokens.listing(limit=limit, cursor=position)
    items = [token_json(t) for t in page.items]
    return json_response(request, pagination(items, page, [t.id for t in page.items]))


async def create_client_token(request: web.Request) -> web.Response:
    client_id_of(request)
    issued = await service_of(request).tokens.create(await read_body(request))
    return json_response(request, token_json(issued.token, issued.secret))


async def create_experiment_token(request: web.Request) -> web.Response:
    """SigOpt's share token: read-only, this experiment only, 30 days unless told."""
    eid = path_id(request, "experiment_id")
    tokens = service_of(request).tokens
    issued = await tokens.create_for_experiment(eid, await read_body(request))
    return json_response(request, token_json(issued.token, issued.secret))


async def get_token(request: web.Request) -> web.Response:
    caller = request[CALLER]
    token_id = _token_id(request, caller)
    if token_id is None:
        return json_response(request, caller_json(caller))
    return json_response(request, token_json(await service_of(request).tokens.get(token_id)))


async def update_token(request: web.Request) -> web.Response:
    """`{"token": "rotate"}` (a new secret, answered once), `name`, `expires`,
    `lasts_forever`; a caller but an admin may only rotate its own token."""
    caller = request[CALLER]
    token_id = _token_id(request, caller)
    if token_id is None:
        raise _not_stored(caller)
    body = await read_body(request)
    if not caller.is_admin and set(body) - {"token"}:
        raise Forbidden("Only an admin token renames a token or changes when it expires.")
    token, secret = await service_of(request).tokens.update(token_id, body)
    return json_response(request, token_json(token, secret))


async def delete_token(request: web.Request) -> web.Response:
    """Revoke: from the next request on, the token is refused (401)."""
    caller = request[CALLER]
    token_id = _token_id(request, caller)
    if token_id is None:
        raise _not_stored(caller)
    if not caller.is_admin:
        raise Forbidden("Only an admin token revokes tokens.")
    await service_of(request).tokens.revoke(token_id)
    return json_response(request, {})
