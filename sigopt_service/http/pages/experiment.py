"""One experiment's pages: the summary (`GET /experiment/{id}`), the analysis
(`GET /experiment/{id}/analysis`, SigOpt's paths) and the observations table alone
(`GET /experiment/{id}/analysis/observations`, which the analysis page's script fetches to
refresh its table in place).

Every number and table is rendered here, so the pages show the data with JavaScript off;
the charts are drawn by the page's scripts from `history.json` (`data.py`).
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from sigopt_service.best import metric_value
from sigopt_service.history_csv import metric_label
from sigopt_service.http.context import service_of
from sigopt_service.http.pages.data import LIVE_INTERVAL_S, experiment_json, full_history_json
from sigopt_service.http.pages.experiments import best_values
from sigopt_service.http.pages.rendering import (
    render_off_loop,
    render_text,
    render_text_off_loop,
    start_page,
)
from sigopt_service.http.pages.table import (
    TableQuery,
    cell,
    columns_of,
    observation_table,
    stddev,
)
from sigopt_service.http.parsing import path_id
from sigopt_service.usecases import MIN_IMPORTANCE_OBSERVATIONS, History

log = structlog.get_logger()
#: Where the analysis page's main content goes in its shell; user text is escaped, so
#: no experiment name can contain it.
_MAIN = "<!--analysis-main-->"


def _context(history: History) -> dict[str, Any]:
    experiment = history.experiment
    progress = experiment.progress
    return {
        "experiment": experiment,
        "observation_count": progress.observation_count if progress else 0,
        "failures": sum(1 for o in history.observations if o.failed),
        "open_suggestions": history.open_suggestions,
        "best": history.best,
        "best_values": best_values(experiment, history.best),
        "metric_label": metric_label,
        "value_of": lambda o, m: metric_value(experiment, o, m),
    }


def _table_context(request: web.Request, history: History) -> dict[str, Any]:
    columns = columns_of(history.experiment, history.observations)
    query = TableQuery.parse(request.query, columns)
    return {
        "table": observation_table(history.experiment, history.observations, query),
        "cell": cell,
        "stddev": stddev,
        "table_path": f"/experiment/{history.experiment.id}/analysis",
    }


async def summary(request: web.Request) -> web.Response:
    history = await service_of(request).history(path_id(request, "experiment_id"))
    return await render_off_loop(request, "experiment.html", lambda: _context(history))


async def analysis(request: web.Request) -> web.StreamResponse:
    """Sent in two parts: the head (with the scripts, plotly.min.js among them) at once,
    the rest once the history is read and rendered, so the browser loads and evaluates
    Plotly meanwhile."""
    eid = path_id(request, "experiment_id")
    service = service_of(request)
    # Read before anything is sent: an unknown experiment is still a 404 page.
    experiment = await service.get_experiment(eid)
    shell = render_text(request, "analysis.html", experiment=experiment, main_marker=_MAIN)
    start, _, end = shell.partition(_MAIN)
    response = await start_page(request)
    await response.write(start.encode())
    try:
        main = await _analysis_main(request, eid)
    except Exception:
        # The status is sent already: the page says what went wrong instead.
        log.exception("analysis_page_failed", experiment_id=eid)
        main = render_text(request, "_failed.html")
    await response.write(main.encode())
    await response.write(end.encode())
    await response.write_eof()
    return response


async def _analysis_main(request: web.Request, eid: int) -> str:
    history = await service_of(request).history(eid)
    page_data = {
        "experiment": experiment_json(history.experiment),
        "history_url": f"/experiment/{eid}/history.json",
        "importances_url": f"/experiment/{eid}/importances.json",
        "table_url": f"/experiment/{eid}/analysis/observations",
        "live_interval_ms": LIVE_INTERVAL_S * 1000,
        "min_importance_observations": MIN_IMPORTANCE_OBSERVATIONS,
    }
    return await render_text_off_loop(
        request,
        "analysis_main.html",
        lambda: {
            "page_data": page_data,
            # In the page: the charts need no second request, nor a second history read.
            "history_data": full_history_json(history),
            **_context(history),
            **_table_context(request, history),
        },
    )


async def observations_fragment(request: web.Request) -> web.Response:
    history = await service_of(request).history(path_id(request, "experiment_id"))
    return await render_off_loop(
        request,
        "observations_fragment.html",
        lambda: {"experiment": history.experiment, **_table_context(request, history)},
    )
