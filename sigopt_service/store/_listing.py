"""Which experiments a listing returns and in which order (`GET /v1/experiments`, as
sigopt-server's `handlers/experiments/list_base.py` defines it), the orders of an
observation listing (`ObservationOrder`, its `observations/detail.py`), and the pure
helpers the in-memory store and the use cases page with; the SQLite store says the
experiments' part in SQL (`sqlite/_listing.py`).

    store.list_experiments(state="all", listing=ExperimentListing(sort="recent", search="lr"))
    ObservationOrder("value", "accuracy").page(observations, None, 100, find=observation_by_id)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Generic, Literal, TypeVar

from sigopt_service.errors import RecordNotFound
from sigopt_service.models import Experiment, MetricEvaluation, Observation

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing: its items, the total over all pages, whether more follow
    (`BaseStore`'s listings; see its docstring for the order and the cursor)."""

    items: list[T]
    count: int
    has_more: bool


#: `id`: by creation; `recent`: by `updated`, ties by id (SigOpt's `EXPERIMENT_RECENCY`).
ExperimentSort = Literal["id", "recent"]
EXPERIMENT_SORTS: tuple[ExperimentSort, ...] = ("id", "recent")

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower case for ASCII letters only: what SQLite's `lower()` does, so both stores
    match a search the same way."""
    return text.translate(_ASCII_LOWER)


@dataclasses.dataclass(frozen=True)
class ExperimentListing:
    """Order and filters of an experiment listing (the state filter is `state=`).

    - `sort`, `ascending`: newest (`id`) or most recently updated (`recent`) first unless
      `ascending`; a cursor is the id of the previous page's last experiment, and the next
      page starts after that experiment's place in this order.
    - `search`: the name contains it, ASCII letters compared case-insensitively, after
      stripping surrounding whitespace (an empty search matches every name).
    - `created_from` (inclusive), `created_before` (exclusive): `created`, in epoch seconds.
    - `development`: only development experiments (True), only the others (False), or
      both (None).
    - `project`: only the experiments in that project (None: in any or none).
    - `runs_only`: only AI experiments (True), only classic ones (False), or both (None).
    """

    sort: ExperimentSort = "id"
    ascending: bool = False
    search: str | None = None
    created_from: int | None = None
    created_before: int | None = None
    development: bool | None = None
    project: str | None = None
    runs_only: bool | None = None

    def needle(self) -> str | None:
        """The search as matched: stripped, ASCII-lowered; None when there is none."""
        return None if self.search is None else ascii_lower(self.search.strip())

    def matches(self, experiment: Experiment) -> bool:
        needle = self.needle()
        if needle is not None and needle not in ascii_lower(experiment.name):
            return False
        if self.created_from is not None and experiment.created < self.created_from:
            return False
        if self.development is not None and experiment.development is not self.development:
            return False
        if self.project is not None and experiment.project != self.project:
            return False
        if self.runs_only is not None and experiment.runs_only is not self.runs_only:
            return False
        return self.created_before is None or experiment.created < self.created_before

    def key(self, experiment: Experiment) -> tuple[int, int]:
        """The sort key; ids break ties, so the order is total."""
        eid = int(experiment.id)
        return (experiment.updated, eid) if self.sort == "recent" else (eid, eid)

    def mark(self, cursor: int, at: Experiment | None) -> tuple[int, int] | None:
        """The sort key a cursor stands for; None when it names no experiment under
        `recent` (whose key is that experiment's `updated`): nothing follows it then."""
        if self.sort == "id":
            return (cursor, cursor)
        return None if at is None else self.key(at)

    def page(
        self,
        experiments: Sequence[Experiment],
        cursor: int | None,
        at: Experiment | None,
        limit: int,
    ) -> tuple[list[Experiment], bool]:
        """`experiments` (already filtered) in this order, after the cursor (`at`: the
        experiment it names, if any): the page and whether more follow."""
        if cursor is None:
            return keyed_page(experiments, self.key, ascending=self.ascending, limit=limit)
        mark = self.mark(cursor, at)
        if mark is None:
            return [], False
        return keyed_page(experiments, self.key, ascending=self.ascending, limit=limit, mark=mark)


#: The default listing: every experiment of the state, newest first.
NEWEST_FIRST = ExperimentListing()


def keyed_page(
    items: Sequence[T],
    key: Callable[[T], Any],
    *,
    ascending: bool,
    limit: int,
    mark: Any = None,
) -> tuple[list[T], bool]:
    """`items` ordered by `key` (descending unless `ascending`), only those strictly past
    `mark` (a key) in that order when one is given: the first `limit` and whether more
    follow. Keys must be totally ordered: end them in the id."""
    if limit < 0:
        raise ValueError("limit must be >= 0")
    ordered = sorted(items, key=key, reverse=not ascending)
    if mark is not None:
        ordered = [i for i in ordered if (key(i) > mark if ascending else key(i) < mark)]
    return ordered[:limit], len(ordered) > limit


def id_page(
    ids: Sequence[int], *, ascending: bool, limit: int, cursor: int | None
) -> tuple[list[int], bool]:
    """A page of `ids` (given in ascending order), past the `cursor` id in the page's order."""
    if limit < 0:
        raise ValueError("limit must be >= 0")
    ordered = list(ids) if ascending else list(reversed(ids))
    if cursor is not None:
        ordered = [i for i in ordered if (i > cursor if ascending else i < cursor)]
    return ordered[:limit], len(ordered) > limit


#: What an observation listing sorts by: `id` (creation), `timestamp` (our `created`), a
#: metric's `value` / `value_stddev`, a `parameter`'s assignment.
ObservationSortField = Literal["id", "timestamp", "value", "value_stddev", "parameter", "task"]
#: The fields that take a name after a dash (`value-accuracy`); `parameter` needs one.
NAMED_OBSERVATION_SORTS = ("value", "value_stddev", "parameter")


@dataclasses.dataclass(frozen=True)
class ObservationOrder:
    """The order of an observation listing, as sigopt-server's `sort` names it: `field`,
    plus the metric (`value`, `value_stddev`) or parameter (`parameter`) it reads, by
    `name`. Observations without that value (failed ones, a metric not reported, a
    parameter inactive under its conditions) sort as larger than every value, as
    sigopt-server's pager reads a missing value as infinity: first in the default
    descending order, last when `ascending`. Ids break ties.

    `name` is the parameter, or the metric whose `value` / `value_stddev` is read (None:
    the one unnamed metric); the use case resolves a bare `value` to the first metric."""

    field: ObservationSortField = "id"
    name: str | None = None
    ascending: bool = False

    @property
    def is_by_id(self) -> bool:
        return self.field == "id"

    def key(self, observation: Observation) -> tuple[Any, ...]:
        oid = int(observation.id)
        if self.field == "id":
            return (oid,)
        if self.field == "timestamp":
            return (observation.created, oid)
        value: Any
        if self.field == "parameter":
            value = observation.assignments.get(self.name or "")
        elif self.field == "task":  # multitask: by the task's cost
            value = None if observation.task is None else observation.task.cost
        else:
            value = _metric_field(observation.values, self.name, self.field)
        # (missing, value): a missing value is larger than any, and never compared with one.
        return (True, 0, oid) if value is None else (False, value, oid)

    def page(
        self,
        observations: Sequence[Observation],
        cursor: int | None,
        limit: int,
        find: Callable[[int], Observation],
    ) -> tuple[list[Observation], bool]:
        """`observations` in this order, past where the observation whose id is `cursor`
        sorts: the page and whether more follow. `find` fetches it (`RecordNotFound` if
        there is none: none follow), in `observations` or not, such as one deleted since
        the page that ended with it (sigopt-server's paging markers hold the sort values)."""
        mark = None
        if cursor is not None:
            try:
                mark = self.key(find(cursor))
            except RecordNotFound:
                return [], False
        return keyed_page(observations, self.key, ascending=self.ascending, limit=limit, mark=mark)


def _metric_field(
    values: Sequence[MetricEvaluation], metric: str | None, field: str
) -> float | None:
    for evaluation in values:
        if evaluation.name == metric:
            return evaluation.value if field == "value" else evaluation.value_stddev
    return None
