"""Which experiments a listing returns and in which order (`GET /v1/experiments`, as
sigopt-server's `handlers/experiments/list_base.py` defines it), and the pure helpers the
in-memory store pages with; the SQLite store says the same in SQL (`sqlite/_listing.py`).

    store.list_experiments(state="all", listing=ExperimentListing(sort="recent", search="lr"))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

from sigopt_service.models import Experiment

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
    """

    sort: ExperimentSort = "id"
    ascending: bool = False
    search: str | None = None
    created_from: int | None = None
    created_before: int | None = None

    def needle(self) -> str | None:
        """The search as matched: stripped, ASCII-lowered; None when there is none."""
        return None if self.search is None else ascii_lower(self.search.strip())

    def matches(self, experiment: Experiment) -> bool:
        needle = self.needle()
        if needle is not None and needle not in ascii_lower(experiment.name):
            return False
        if self.created_from is not None and experiment.created < self.created_from:
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
        if limit < 0:
            raise ValueError("limit must be >= 0")
        ordered = sorted(experiments, key=self.key, reverse=not self.ascending)
        if cursor is not None:
            mark = self.mark(cursor, at)
            if mark is None:
                return [], False
            ordered = [
                e for e in ordered if (self.key(e) > mark if self.ascending else self.key(e) < mark)
            ]
        return ordered[:limit], len(ordered) > limit


#: The default listing: every experiment of the state, newest first.
NEWEST_FIRST = ExperimentListing()
