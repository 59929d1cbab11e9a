"""Handlers of the account objects the official client reads before the AI module's
calls: the client (`GET /v1/clients/{id}`) and its organization
(`GET /v1/organizations[/{id}]`). This service has one of each, id "1"
(`http/clients.py`); any other id is a 404, as sigopt-server answers for one the token
cannot see. (`GET /v1/tokens/self`, whose `client` the client reads first, is
`http/tokens.py`'s.)"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sigopt_service.errors import NotFound
from sigopt_service.http.parsing import path_id
from sigopt_service.http.responses import json_response, unpaged
from sigopt_service.run_models import CLIENT_ID

#: The one organization, which owns the one client.
ORGANIZATION_ID = "1"


def client_id_of(request: web.Request) -> str:
    """The path's client id, which must be this service's one client."""
    client_id = str(path_id(request, "client_id"))
    if client_id != CLIENT_ID:
        raise NotFound(f"No client {client_id}")
    return client_id


def _organization_json() -> dict[str, Any]:
    return {
        "object": "organization",
        "id": ORGANIZATION_ID,
        "name": "SigOpt-compatible service",
        "created": None,
        "deleted": False,
    }


async def get_client(request: web.Request) -> web.Response:
    return json_response(
        request,
        {
            "object": "client",
            "id": client_id_of(request),
            "name": "SigOpt-compatible service",
            "organization": ORGANIZATION_ID,
            "created": None,
        },
    )


async def get_organization(request: web.Request) -> web.Response:
    organization_id = str(path_id(request, "organization_id"))
    if organization_id != ORGANIZATION_ID:
        raise NotFound(f"No organization {organization_id}")
    return json_response(request, _organization_json())


async def list_organizations(request: web.Request) -> web.Response:
    return json_response(request, unpaged([_organization_json()]))
