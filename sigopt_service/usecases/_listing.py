"""Experiment listing on the store thread: one page, in the listing's order, each
experiment with its `progress`."""

from __future__ import annotations

from sigopt_service.models import Experiment
from sigopt_service.store import ExperimentListing, ExperimentStateFilter, Page
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
