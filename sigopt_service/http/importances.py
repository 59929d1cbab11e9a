"""Handler of `GET /v1/experiments/{id}/metric_importances` (SigOpt's resource): per
optimized metric, how much each parameter matters, once enough observations exist
(`sigopt_service.usecases.MIN_IMPORTANCE_OBSERVATIONS`; an empty list before)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sigopt_service.http.context import service_of
from sigopt_service.http.parsing import path_id
from sigopt_service.http.responses import json_response, unpaged
from sigopt_service.usecases import MetricImportance


def importances_json(found: list[MetricImportance]) -> dict[str, Any]:
    """SigOpt's shape: a list of `{"object": "metric_importances", "metric", "importances"}`."""
    return unpaged(
        [
            {"object": "metric_importances", "metric": m.metric, "importances": m.importances}
            for m in found
        ]
    )


async def metric_importances(request: web.Request) -> web.Response:
    found = await service_of(request).metric_importances(path_id(request, "experiment_id"))
    return json_response(request, importances_json(found))
