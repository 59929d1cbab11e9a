"""Handlers of AI experiments: create under a project
(`POST /v1/clients/{c}/projects/{p}/aiexperiments`), list (`/v1/aiexperiments`, a client's,
a project's), fetch, update, delete (`include_runs`), their best runs and new runs
(`experiment.loop()`), as sigopt-server's `handlers/aiexperiments/`. Each handler parses,
makes one call to the use cases, renders (`run_json.py`); the lists are
`experiments.experiments_page`."""

from __future__ import annotations

from aiohttp import web

from sigopt_service.errors import InvalidRequest
from sigopt_service.http.accounts import client_id_of
from sigopt_service.http.context import service_of
from sigopt_service.http.experiments import experiments_page
from sigopt_service.http.parsing import path_id, read_body
from sigopt_service.http.responses import json_response, unpaged
from sigopt_service.http.run_json import aiexperiment_json, run_json


async def list_aiexperiments(request: web.Request) -> web.Response:
    return await experiments_page(request, ai=True)


async def list_client_aiexperiments(request: web.Request) -> web.Response:
    client_id_of(request)
    return await experiments_page(request, ai=True)


async def get_aiexperiment(request: web.Request) -> web.Response:
    found = await service_of(request).ai.get_aiexperiment(path_id(request, "experiment_id"))
    return json_response(request, aiexperiment_json(found))


async def update_aiexperiment(request: web.Request) -> web.Response:
    eid = path_id(request, "experiment_id")
    updated = await service_of(request).ai.update_aiexperiment(eid, await read_body(request))
    return json_response(request, aiexperiment_json(updated))


async def delete_aiexperiment(request: web.Request) -> web.Response:
    """`include_runs` (`true` / `false`, any case, default false), in the query string as
    the client sends it (or in a body)."""
    raw = request.query.get("include_runs")
    if raw is None and request.can_read_body:
        raw = (await read_body(request)).get("include_runs")
    option = "false" if raw is None else str(raw).lower()
    if option not in ("true", "false"):
        raise InvalidRequest(
            f"Invalid option for include_runs: {option:.20}",
            field="include_runs",
            code="invalid_value",
        )
    eid = path_id(request, "experiment_id")
    await service_of(request).ai.delete_aiexperiment(eid, include_runs=option == "true")
    return json_response(request, {})


async def best_training_runs(request: web.Request) -> web.Response:
    runs = await service_of(request).ai.best_runs(path_id(request, "experiment_id"))
    return json_response(request, unpaged([run_json(r) for r in runs]))


async def create_aiexperiment_run(request: web.Request) -> web.Response:
    eid = path_id(request, "experiment_id")
    run = await service_of(request).ai.create_run_in_aiexperiment(eid, await read_body(request))
    return json_response(request, run_json(run))
