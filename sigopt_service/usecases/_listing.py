"""Listings on the store thread: experiments (one page, in the listing's order, each with
its `progress`) and observations in any of sigopt-server's orders
(`observations/detail.py`: by id, the time, a metric's value, a parameter)."""

from __future__ import annotations

import dataclasses

from sigopt_service.errors import InvalidRequest
from sigopt_service.models import Experiment, Observation
from sigopt_service.store import ExperimentListing, ExperimentStateFilter, ObservationOrder, Page
from sigopt_service.usecases._core import Core
from sigopt_service.usecases._experiments import with_progress


def listing(
    core: Core,
    state: ExperimentStateFilter,
    order: ExperimentListing,
    limit: int,
    cursor: int | None,
) -> tuple[list[Experiment], Page[Experiment]]:
    page = core.store.list_experiments(state=state, limit=limit, cursor=cursor, listing=order)
    return [with_progress(core, e) for e in page.items], page


def observations(
    core: Core,
    eid: int,
    order: ObservationOrder,
    *,
    deleted_only: bool,
    limit: int,
    cursor: int | None,
) -> Page[Observation]:
    """One page in `order`; `deleted_only` lists the deleted observations only (SigOpt's
    `deleted=true`). A cursor is the id of the previous page's last observation."""
    order = resolved(core.experiment(eid), order)
    return core.store.list_sorted_observations(
        eid, order, deleted_only=deleted_only, limit=limit, cursor=cursor
    )


def resolved(experiment: Experiment, order: ObservationOrder) -> ObservationOrder:
    """`order` with a bare `value` / `value_stddev` read from the first metric, as
    sigopt-server does; a metric or parameter the experiment lacks is a 400 naming `sort`
    (sigopt-server refuses an unknown parameter and sorts by an unknown metric as if
    every value were missing: refused here too, so a typo does not pass for an order)."""
    if order.field in ("value", "value_stddev"):
        names = [m.name for m in experiment.metrics]
        if order.name is None:
            return dataclasses.replace(order, name=names[0])
        if order.name not in names:
            raise InvalidRequest(
                f"Invalid sort: {order.field}-{order.name} (the experiment has no metric "
                f"{order.name!r})",
                field="sort",
                code="invalid_value",
            )
    if order.field == "task" and not experiment.tasks:
        raise InvalidRequest(
            "Invalid sort: task (the experiment is not multitask)",
            field="sort",
            code="invalid_value",
        )
    if order.field == "parameter" and order.name not in {p.name for p in experiment.parameters}:
        raise InvalidRequest(f"Unknown parameter: {order.name}", field="sort", code="invalid_value")
    return order
