"""Read use cases of the analysis pages, on the store thread: experiment overviews (with
open-suggestion and failure counts), an experiment's whole history, and what changed
since the last observation a page has (the live update).

Each function is one call's worth of reads; the results are snapshots the pages render.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigopt_service.best import best_observations, ranked_observations
from sigopt_service.engine.solutions import diverse_best
from sigopt_service.models import Experiment, Observation, Suggestion
from sigopt_service.store import ExperimentListing, Page
from sigopt_service.usecases._core import Core
from sigopt_service.usecases._experiments import with_progress

#: Observations read per store call while collecting those after a marker.
_CHUNK = 1000


@dataclass(frozen=True)
class ExperimentOverview:
    """One row of the experiments page: the experiment (with `progress`), its open
    suggestions and its failed observations, counted, and its best observation or Pareto
    front."""

    experiment: Experiment
    open_suggestions: int
    failures: int
    best: list[Observation]


@dataclass(frozen=True)
class History:
    """Everything the analysis page shows: the experiment (with `progress`), its
    observations oldest first, its open suggestions, and its best observation or Pareto
    front (`best_assignments`)."""

    experiment: Experiment
    observations: list[Observation]
    open_suggestions: list[Suggestion]
    best: list[Observation]


@dataclass(frozen=True)
class HistoryUpdate:
    """What a page that has every observation up to id `after` needs: the ones after it
    (oldest first), the total it should now hold (a smaller total than it counts means
    something was deleted or moved: it reloads), the open suggestions, and the best
    observations (None: nothing new, so they are unchanged)."""

    experiment: Experiment
    observations: list[Observation]
    observation_count: int
    open_suggestions: list[Suggestion]
    best: list[Observation] | None


def best_of(experiment: Experiment, observations: list[Observation]) -> list[Observation]:
    """What `best_assignments` answers: the k solutions of a multisolution experiment, else
    the best observation or the Pareto front."""
    k = experiment.num_solutions or 1
    if k > 1:
        return diverse_best(experiment, ranked_observations(experiment, observations), k)
    return best_observations(experiment, observations)


def experiment_page(
    core: Core, listing: ExperimentListing, limit: int, cursor: int | None
) -> Page[Experiment]:
    """A page of the active experiments, newest first (`overview` makes each one's row)."""
    return core.store.list_experiments(state="active", limit=limit, cursor=cursor, listing=listing)


def overview(core: Core, experiment: Experiment) -> ExperimentOverview:
    """One experiment's row. The store counts no failures: a scan of its history, so the
    caller asks for each row in a call of its own, and a page of large experiments holds
    up the store thread (and every suggestion waiting on it) one experiment at a time."""
    eid = int(experiment.id)
    observations = core.store.all_observations(eid)
    return ExperimentOverview(
        experiment=with_progress(core, experiment),
        open_suggestions=core.store.open_suggestion_count(eid),
        failures=sum(1 for o in observations if o.failed),
        best=best_of(experiment, observations),
    )


def history(core: Core, eid: int) -> History:
    experiment = with_progress(core, core.experiment(eid))
    observations = core.store.all_observations(eid)
    return History(
        experiment=experiment,
        observations=observations,
        open_suggestions=core.store.open_suggestions(eid),
        best=best_of(experiment, observations),
    )


def observations(core: Core, eid: int) -> tuple[Experiment, list[Observation]]:
    """The experiment (no `progress`) and its observations, oldest first: what an
    estimate over the history needs, and nothing more."""
    return core.experiment(eid), core.store.all_observations(eid)


def history_after(core: Core, eid: int, after: int) -> HistoryUpdate:
    experiment = with_progress(core, core.experiment(eid))
    new: list[Observation] = []
    cursor = after
    while True:
        page = core.store.list_observations(eid, ascending=True, limit=_CHUNK, cursor=cursor)
        new += page.items
        if not page.has_more or not page.items:
            break
        cursor = int(page.items[-1].id)
    best: list[Observation] | None = None
    if new:
        if len(experiment.optimized_metrics()) == 1 and (experiment.num_solutions or 1) == 1:
            kept = core.store.best_observation(eid)  # kept up to date: no history read
            best = [] if kept is None else [kept]
        else:
            # A front (or the k solutions) can lose members to a new point: only the
            # whole history tells.
            best = best_of(experiment, core.store.all_observations(eid))
    return HistoryUpdate(
        experiment=experiment,
        observations=new,
        observation_count=core.store.observation_count(eid),
        open_suggestions=core.store.open_suggestions(eid),
        best=best,
    )
