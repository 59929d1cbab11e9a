"""Handlers of a client's experiments: `/v1/clients/{client_id}/experiments`, the way
SigOpt's own examples and older user code create and list experiments
(`conn.clients(C).experiments().create(...)`; sigopt-server's `ClientsExperimentsHandler`
and `ClientsExperimentsCreateHandler`).

This service has one implicit client, `IMPLICIT_CLIENT_ID` ("1"), which owns every
experiment and is what each experiment's `client` says; any other client id is a 404
`No client {id}`, as sigopt-server answers for a client the token cannot see.
"""

from __future__ import annotations

from aiohttp import web

from sigopt_service.errors import NotFound
from sigopt_service.http.experiments import (
    IMPLICIT_CLIENT_ID,
    create_experiment,
    list_experiments,
)
from sigopt_service.http.parsing import path_id


def _check_client(request: web.Request) -> None:
    client_id = path_id(request, "client_id")
    if str(client_id) != IMPLICIT_CLIENT_ID:
        raise NotFound(f"No client {client_id}")


async def create_client_experiment(request: web.Request) -> web.Response:
    _check_client(request)
    return await create_experiment(request)


async def list_client_experiments(request: web.Request) -> web.Response:
    _check_client(request)
    return await list_experiments(request)
