"""`GET /` and `GET /experiments`: the active experiments, newest first, a page at a time
(`?before=ID` continues after the experiment ID), each with its progress (observations of
the budget, open suggestions, failures), best value and state."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sigopt_service.best import metric_value
from sigopt_service.history_csv import metric_label
from sigopt_service.http.context import service_of
from sigopt_service.http.pages.rendering import render
from sigopt_service.http.query import parse_id
from sigopt_service.models import Experiment, Observation
from sigopt_service.store import ExperimentListing

PER_PAGE = 25


def best_values(experiment: Experiment, best: list[Observation]) -> list[dict[str, Any]]:
    """Per optimized metric, its value in the best observation (one metric), or its
    values over the Pareto front (two)."""
    out = []
    for metric in experiment.optimized_metrics():
        values = [v for o in best if (v := metric_value(experiment, o, metric)) is not None]
        out.append({"label": metric_label(metric.name), "values": values})
    return out


async def experiment_list(request: web.Request) -> web.Response:
    raw = request.query.get("before")
    before = None if raw is None else parse_id(raw, "before")
    rows, page = await service_of(request).experiment_overviews(
        ExperimentListing(), PER_PAGE, before
    )
    next_before = rows[-1].experiment.id if page.has_more and rows else None
    return render(
        request,
        "experiments.html",
        rows=rows,
        total=page.count,
        next_before=next_before,
        best_values=best_values,
    )
