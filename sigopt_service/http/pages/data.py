"""The JSON the analysis page's scripts read: the history (whole, or only what is new
after the page's last observation: the live update) and the parameter importances.

```
GET /experiment/{id}/history.json              every observation, open suggestions, best
                                               (the analysis page embeds this one)
GET /experiment/{id}/history.json?after=ID     observations after ID, the count, the rest
GET /experiment/{id}/importances.json          SigOpt's metric_importances list
```
Observations are flattened for charts: `values` maps a metric's label to its value. The
experiment's definition is in the page itself (`experiment_json`).
"""

from __future__ import annotations

import json
from typing import Any

import anyio.to_thread
from aiohttp import web

from sigopt_service.best import is_full_cost, metric_value
from sigopt_service.history_csv import FAILURE_REASON_KEY, metric_label
from sigopt_service.http.context import service_of
from sigopt_service.http.importances import importances_json
from sigopt_service.http.parsing import path_id
from sigopt_service.http.query import parse_id
from sigopt_service.http.responses import JSON_HEADERS, json_response
from sigopt_service.models import Experiment, Observation, Suggestion
from sigopt_service.usecases import History

#: How often the page asks for news; the issue asks for an update within 10 s.
LIVE_INTERVAL_S = 4


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    """What the charts need of the definition (embedded in the page as JSON)."""
    return {
        "id": experiment.id,
        "name": experiment.name,
        "parameters": [
            {
                "name": p.name,
                "type": p.type.value,
                "log": p.transformation == "log",
                "min": p.bounds.min if p.bounds else None,
                "max": p.bounds.max if p.bounds else None,
                "categories": p.category_names() or None,
                "grid": p.grid,
            }
            for p in experiment.parameters
        ],
        "metrics": [
            {
                "label": metric_label(m.name),
                "objective": m.objective.value,
                "strategy": m.strategy.value,
                "threshold": m.threshold,
            }
            for m in experiment.metrics
        ],
        "observation_budget": experiment.observation_budget,
        # Categorical axes of their own (conditional parameters are absent where inactive).
        "conditionals": [
            {"name": str(c["name"]), "values": [str(v) for v in c["values"]]}
            for c in experiment.conditionals
        ],
        "tasks": [{"name": t.name, "cost": t.cost} for t in experiment.tasks or ()],
        "num_solutions": experiment.num_solutions or 1,
    }


def observation_json(experiment: Experiment, observation: Observation) -> dict[str, Any]:
    metadata = observation.metadata or {}
    return {
        "id": int(observation.id),
        "suggestion": observation.suggestion,
        "created": observation.created,
        "failed": observation.failed,
        "reason": metadata.get(FAILURE_REASON_KEY),
        "assignments": observation.assignments,
        "task": None if observation.task is None else observation.task.name,
        # Only these count as values of the objective (best, improvement): multitask.
        "full_cost": is_full_cost(observation),
        "values": {
            metric_label(m.name): metric_value(experiment, observation, m)
            for m in experiment.metrics
        },
        "metadata": metadata,
    }


def suggestion_json(suggestion: Suggestion) -> dict[str, Any]:
    return {
        "id": int(suggestion.id),
        "created": suggestion.created,
        "task": None if suggestion.task is None else suggestion.task.name,
        "assignments": suggestion.assignments,
        "metadata": suggestion.metadata or {},
    }


def progress_json(experiment: Experiment, open_count: int) -> dict[str, Any]:
    progress = experiment.progress
    return {
        "observation_count": progress.observation_count if progress else 0,
        "observation_budget": experiment.observation_budget,
        "open_suggestions": open_count,
    }


def history_json(
    experiment: Experiment,
    observations: list[Observation],
    *,
    count: int,
    opened: list[Suggestion],
    best: list[Observation] | None,
    complete: bool,
) -> dict[str, Any]:
    """The history body; `complete`: every observation (else those after a marker)."""
    return {
        "object": "history",
        "complete": complete,
        "observation_count": count,
        "observations": [observation_json(experiment, o) for o in observations],
        "open_suggestions": [suggestion_json(s) for s in opened],
        "best": None if best is None else [int(o.id) for o in best],
        "progress": progress_json(experiment, len(opened)),
    }


def full_history_json(history: History) -> dict[str, Any]:
    return history_json(
        history.experiment,
        history.observations,
        count=len(history.observations),
        opened=history.open_suggestions,
        best=history.best,
        complete=True,
    )


async def history(request: web.Request) -> web.Response:
    eid = path_id(request, "experiment_id")
    raw_after = request.query.get("after")
    service = service_of(request)
    if raw_after is None:
        full = await service.history(eid)
        # Built and encoded off the loop: a tenth of a second at 10,000 observations.
        text = await anyio.to_thread.run_sync(
            lambda: json.dumps(full_history_json(full), allow_nan=False)
        )
        return web.Response(text=text, content_type="application/json", headers=JSON_HEADERS)
    update = await service.history_after(eid, parse_id(raw_after, "after"))
    body = history_json(
        update.experiment,
        update.observations,
        count=update.observation_count,
        opened=update.open_suggestions,
        best=update.best,
        complete=False,
    )
    return json_response(request, body)


async def importances(request: web.Request) -> web.Response:
    eid = path_id(request, "experiment_id")
    found, completed = await service_of(request).importances_with_progress(eid)
    body = importances_json(found)
    if completed is not None:
        # Why there are none yet: the page says how many it waits for.
        body["completed_observations"] = completed
    return json_response(request, body)
