"""Handlers of the experiment resource: create, list, fetch, update and delete
`/v1/experiments[/{id}]`, plus the views derived from an experiment's observations
(`best_assignments`, `stopping_criteria`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sigopt_service.app import ServiceState, json_response
from sigopt_service.best import best_observations, progress
from sigopt_service.errors import InvalidRequest
from sigopt_service.handlers_common import _body, _cursor, _pagination, _path_id, _state
from sigopt_service.models import BestAssignments, Experiment, ExperimentState, Observation
from sigopt_service.query import parse_limit
from sigopt_service.store import Page
from sigopt_service.validate_experiment import (
    validate_experiment_create,
    validate_experiment_update,
)


def _with_progress(state: ServiceState, experiment: Experiment) -> Experiment:
    """Runs in the store thread: the experiment plus its `progress` object."""
    store, eid = state.store, int(experiment.id)
    first = store.list_observations(eid, ascending=True, limit=1)
    last = store.list_observations(eid, limit=1)
    best = None
    if len(experiment.optimized_metrics()) == 1 and first.count:
        best = state.best(experiment)
    return experiment.model_copy(
        update={
            "progress": progress(
                experiment,
                first.count,
                first.items[0] if first.items else None,
                last.items[0] if last.items else None,
                best,
            )
        }
    )


def _experiment_json(experiment: Experiment) -> dict[str, Any]:
    return experiment.model_dump(mode="json")


async def create_experiment(request: web.Request) -> web.Response:
    new = validate_experiment_create(await _body(request))
    state = _state(request)

    def work() -> Experiment:
        return _with_progress(state, state.store.create_experiment(new))

    return json_response(request, _experiment_json(await state.call(work)))


async def list_experiments(request: web.Request) -> web.Response:
    state, q = _state(request), request.query
    state_filter = q.get("state", "active")
    if state_filter not in ("active", "deleted", "all"):
        raise InvalidRequest(
            f"Invalid value for `state`: {state_filter!r:.40} (active, deleted, all)"
        )
    limit = parse_limit(q.get("limit"))
    cursor, _ = _cursor(request)

    def work() -> tuple[list[Experiment], Page[Experiment]]:
        page = state.store.list_experiments(state=state_filter, limit=limit, cursor=cursor)  # type: ignore[arg-type]
        return [_with_progress(state, e) for e in page.items], page

    items, page = await state.call(work)
    return json_response(
        request, _pagination([_experiment_json(e) for e in items], page, [int(e.id) for e in items])
    )


async def get_experiment(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")

    def work() -> Experiment:
        return _with_progress(state, state.experiment(eid))

    return json_response(request, _experiment_json(await state.call(work)))


async def update_experiment(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")
    body = await _body(request)

    def work() -> Experiment:
        changes = validate_experiment_update(state.experiment(eid), body)
        updated = state.store.update_experiment(eid, changes) if changes else state.experiment(eid)
        state.forget(eid)
        return _with_progress(state, updated)

    return json_response(request, _experiment_json(await state.call(work)))


async def delete_experiment(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")

    def work() -> None:
        state.experiment(eid)
        state.store.update_experiment(eid, {"state": ExperimentState.DELETED.value})
        state.forget(eid)

    await state.call(work)
    return json_response(request, {})


# ---------------------------------------------------------------------------- derived views
async def best_assignments(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")

    def work() -> list[Observation]:
        experiment = state.experiment(eid)
        if len(experiment.optimized_metrics()) == 1:
            kept = state.best(experiment)  # the one best, kept up to date: no history read
            return [] if kept is None else [kept]
        return best_observations(experiment, state.store.all_observations(eid))

    best = await state.call(work)
    data = [
        BestAssignments(
            id=o.id, assignments=o.assignments, values=o.values, metadata=o.metadata
        ).to_wire()
        for o in best
    ]
    return json_response(
        request,
        {
            "object": "pagination",
            "count": len(data),
            "data": data,
            "paging": {"before": None, "after": None},
        },
    )


async def stopping_criteria(request: web.Request) -> web.Response:
    state, eid = _state(request), _path_id(request, "experiment_id")

    def work() -> tuple[Experiment, int]:
        experiment = state.experiment(eid)
        return experiment, state.store.observation_count(eid)

    experiment, count = await state.call(work)
    reasons = []
    if experiment.observation_budget is not None and count > experiment.observation_budget:
        reasons.append("observation_budget_reached")
    return json_response(
        request, {"object": "stopping_criteria", "should_stop": bool(reasons), "reasons": reasons}
    )
