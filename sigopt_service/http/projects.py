"""Handlers of projects, `/v1/clients/{client_id}/projects[/{project_id}]` (create, list,
fetch, update: sigopt-server's `handlers/projects/`), and the experiments, AI experiments
and training runs listed (or created) under a project. A project's id is the one its
creator chose; a malformed one names no project (404).

A project listing pages by position: its markers count the projects already listed."""

from __future__ import annotations

from aiohttp import web

from sigopt_service.errors import InvalidRequest, NotFound
from sigopt_service.http.accounts import client_id_of
from sigopt_service.http.context import service_of
from sigopt_service.http.experiments import experiments_page
from sigopt_service.http.parsing import cursor, read_body
from sigopt_service.http.query import encode_marker, parse_bool, parse_int, parse_limit
from sigopt_service.http.responses import json_response, unpaged
from sigopt_service.http.run_json import aiexperiment_json, project_json, run_json
from sigopt_service.http.runs import runs_page
from sigopt_service.validation.project import is_project_id

PROJECT_SORTS = ("updated", "created")


def project_id_of(request: web.Request) -> str:
    """The path's project id (its client checked); one no project can have is a 404."""
    client_id_of(request)
    project_id = request.match_info["project_id"]
    if not is_project_id(project_id):
        raise NotFound(f"No project {project_id[:40]}")
    return project_id


async def create_project(request: web.Request) -> web.Response:
    client_id_of(request)
    created = await service_of(request).ai.create_project(await read_body(request))
    return json_response(request, project_json(created))


async def list_projects(request: web.Request) -> web.Response:
    """sigopt-server's list: most recently updated first (`sort=created`: newest first),
    `ascending`, `deleted=true` to include deleted ones; `user` names nobody here."""
    client_id_of(request)
    q = request.query
    sort = q.get("sort", "updated")
    if sort not in PROJECT_SORTS:
        raise InvalidRequest(
            f"Invalid sort: {sort:.40} (updated, created)", field="sort", code="invalid_value"
        )
    position, after = cursor(request, after_allowed=True)
    limit = parse_limit(q.get("limit"))
    if parse_int(q.get("user"), "user") is not None:
        return json_response(request, unpaged([]))
    projects = await service_of(request).ai.list_projects(
        include_deleted=parse_bool(q.get("deleted"), "deleted"),
        sort=sort,
        ascending=parse_bool(q.get("ascending"), "ascending"),
    )
    start = position or 0
    page = projects[start : start + limit]
    more = start + limit < len(projects)
    marker = encode_marker(start + len(page)) if more else None
    return json_response(
        request,
        {
            "object": "pagination",
            "count": len(projects),
            "data": [project_json(p) for p in page],
            # The marker goes where the client looks for it: the key it paged with.
            "paging": {
                "after" if after else "before": marker,
                "before" if after else "after": None,
            },
        },
    )


async def get_project(request: web.Request) -> web.Response:
    found = await service_of(request).ai.get_project(project_id_of(request))
    return json_response(request, project_json(found))


async def update_project(request: web.Request) -> web.Response:
    project_id = project_id_of(request)
    updated = await service_of(request).ai.update_project(project_id, await read_body(request))
    return json_response(request, project_json(updated))


async def list_project_experiments(request: web.Request) -> web.Response:
    project_id = project_id_of(request)
    await service_of(request).ai.get_project(project_id)  # 404 for no such project
    return await experiments_page(request, project=project_id)


async def list_project_aiexperiments(request: web.Request) -> web.Response:
    project_id = project_id_of(request)
    await service_of(request).ai.get_project(project_id)
    return await experiments_page(request, project=project_id, ai=True)


async def create_project_aiexperiment(request: web.Request) -> web.Response:
    project_id = project_id_of(request)
    created = await service_of(request).ai.create_aiexperiment(project_id, await read_body(request))
    return json_response(request, aiexperiment_json(created))


async def list_project_runs(request: web.Request) -> web.Response:
    return await runs_page(request, project=project_id_of(request))


async def create_project_run(request: web.Request) -> web.Response:
    project_id = project_id_of(request)
    run = await service_of(request).ai.create_run_in_project(project_id, await read_body(request))
    return json_response(request, run_json(run))


async def create_project_runs(request: web.Request) -> web.Response:
    """`upload_runs`: `{"runs": [...], "fields": "id"}`; `fields` (comma-separated) keeps
    only those keys of each run in the answer, as sigopt-server's `fields` does."""
    project_id = project_id_of(request)
    body = await read_body(request)
    fields = body.pop("fields", None)
    if fields is not None and not isinstance(fields, str):
        raise InvalidRequest(
            "Invalid value for `fields`: expected a comma-separated string",
            field="fields",
            code="invalid_value",
        )
    unknown = sorted(set(body) - {"runs"})
    if unknown:
        raise InvalidRequest(
            f"Unknown json keys `{unknown[0]}` in: the request body",
            field=unknown[0],
            code="unknown_key",
        )
    runs = await service_of(request).ai.create_runs_in_project(project_id, body)
    keep = None if fields is None else frozenset(f.strip() for f in fields.split(","))
    return json_response(request, unpaged([run_json(r, keep) for r in runs]))
