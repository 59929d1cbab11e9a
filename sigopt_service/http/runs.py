"""Handlers of training runs (`/v1/training_runs/{id}`: fetch, PUT, MERGE, delete; its
checkpoints) and of the run listings (a project's, a client's, an experiment's), as
sigopt-server's `handlers/training_runs/`. The same run handlers answer under
`/v1/experiments/{experiment_id}/training_runs/{id}` (the client's experiment resource),
for a run of that experiment only; `POST /v1/experiments/{id}/training_runs` with a
`suggestion` is our extension (`usecases/_runs.py:create_for_suggestion`).

MERGE is the client's own verb for logging (`log_metric`, `log_metadata`,
`log_failure`...): objects merge key by key; PUT replaces each field it names."""

from __future__ import annotations

from aiohttp import web

from sigopt_service.errors import InvalidRequest
from sigopt_service.http.accounts import client_id_of
from sigopt_service.http.context import service_of
from sigopt_service.http.parsing import cursor, path_id, read_body
from sigopt_service.http.query import parse_limit
from sigopt_service.http.responses import json_response, pagination
from sigopt_service.http.run_json import checkpoint_json, run_json
from sigopt_service.http.run_query import parse_run_listing


def _experiment_of(request: web.Request) -> int | None:
    """The experiment in the path, when the route is under `/v1/experiments/{id}`."""
    if "experiment_id" not in request.match_info:
        return None
    return path_id(request, "experiment_id")


async def runs_page(
    request: web.Request, *, project: str | None = None, experiment: int | None = None
) -> web.Response:
    """A run listing: `filters`, `search`, `sort`, `ascending`, `limit`, `before` /
    `after` (whose markers name the previous page's last run)."""
    position, after = cursor(request, after_allowed=True)
    order = parse_run_listing(request, ascending=after)
    limit = parse_limit(request.query.get("limit"))
    page = await service_of(request).ai.list_runs(
        project=project, experiment=experiment, order=order, limit=limit, cursor=position
    )
    return json_response(
        request,
        pagination(
            [run_json(r) for r in page.items],
            page,
            [int(r.id) for r in page.items],
            follow_after=after,
        ),
    )


async def list_client_runs(request: web.Request) -> web.Response:
    client_id_of(request)
    return await runs_page(request)


async def list_experiment_runs(request: web.Request) -> web.Response:
    return await runs_page(request, experiment=path_id(request, "experiment_id"))


async def create_suggestion_run(request: web.Request) -> web.Response:
    eid = path_id(request, "experiment_id")
    run = await service_of(request).ai.create_run_for_suggestion(eid, await read_body(request))
    return json_response(request, run_json(run))


async def get_run(request: web.Request) -> web.Response:
    run_id = path_id(request, "training_run_id")
    run = await service_of(request).ai.get_run(run_id, eid=_experiment_of(request))
    return json_response(request, run_json(run))


async def update_run(request: web.Request) -> web.Response:
    """PUT and MERGE; `X-Response-Content: skip` (the client's, on every log) answers 204."""
    run_id = path_id(request, "training_run_id")
    run = await service_of(request).ai.update_run(
        run_id,
        await read_body(request),
        merge=request.method == "MERGE",
        eid=_experiment_of(request),
    )
    return json_response(request, run_json(run))


async def delete_run(request: web.Request) -> web.Response:
    run_id = path_id(request, "training_run_id")
    run = await service_of(request).ai.delete_run(run_id, eid=_experiment_of(request))
    return json_response(request, run_json(run))


# Under `/v1/experiments/{id}`, a checkpoint of a run of that experiment only (a share
# token's reach): the use cases check the run in the same store call.
async def create_checkpoint(request: web.Request) -> web.Response:
    run_id = path_id(request, "training_run_id")
    made = await service_of(request).ai.create_checkpoint(
        run_id, await read_body(request), eid=_experiment_of(request)
    )
    return json_response(request, checkpoint_json(made))


async def list_checkpoints(request: web.Request) -> web.Response:
    run_id = path_id(request, "training_run_id")
    position, _ = cursor(request)
    page = await service_of(request).ai.list_checkpoints(
        run_id,
        limit=parse_limit(request.query.get("limit")),
        cursor=position,
        eid=_experiment_of(request),
    )
    return json_response(
        request,
        pagination([checkpoint_json(c) for c in page.items], page, [int(c.id) for c in page.items]),
    )


async def get_checkpoint(request: web.Request) -> web.Response:
    run_id = path_id(request, "training_run_id")
    checkpoint_id = path_id(request, "checkpoint_id")
    found = await service_of(request).ai.get_checkpoint(
        run_id, checkpoint_id, eid=_experiment_of(request)
    )
    return json_response(request, checkpoint_json(found))


async def create_file(request: web.Request) -> web.Response:
    """`sigopt.log_image`: refused. sigopt-server answers an upload URL for its object
    store, which the client then PUTs the image to without a token; this service stores
    no files."""
    path_id(request, "training_run_id")
    raise InvalidRequest(
        "Files (log_image) are not supported by this service: no file is stored",
        code="invalid_request",
    )
