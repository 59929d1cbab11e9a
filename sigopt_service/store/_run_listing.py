"""Which training runs a listing returns and in which order (sigopt-server's
`training_runs/list.py`: `filters`, `search`, `sort`), on runs already read from a store
(`RunStore.all_training_runs` of a project or experiment): pure functions, one module for
every store, as observation orders are sorted in memory too.

    RunListing(filters=(RunFilter("experiment", "==", 7),), sort="values.acc.value")
        .page(store.all_training_runs(project="p"), cursor=None, limit=100)
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

from sigopt_service.errors import RecordNotFound
from sigopt_service.run_models import TrainingRun
from sigopt_service.store._listing import ascii_lower, keyed_page

RunFilterOperator = Literal["==", "!=", ">=", ">", "<=", "<", "isnull"]
OPERATORS: tuple[RunFilterOperator, ...] = ("==", "!=", ">=", ">", "<=", "<", "isnull")

#: The fields a filter or sort may name, and the kind of value each holds. A name with
#: a `*` takes one key there (`assignments.lr`, `values.acc.value`).
RUN_FIELDS: dict[str, str] = {
    "id": "id",
    "client": "id",
    "experiment": "id",
    "observation": "id",
    "suggestion": "id",
    "user": "id",
    "created": "int",
    "updated": "int",
    "finished": "int",
    "completed": "int",
    "deleted": "bool",
    "favorite": "bool",
    "name": "text",
    "state": "state",
    "model.type": "text",
    "source_code.content": "text",
    "source_code.hash": "text",
    "assignments.*": "json",
    "metadata.*": "json",
    "logs.*.content": "text",
    "values.*.value": "number",
    "values.*.value_stddev": "number",
}
_PATTERNS = [
    (re.compile("^" + re.escape(name).replace(r"\*", "([^.]+)") + "$"), kind)
    for name, kind in RUN_FIELDS.items()
]


def field_kind(name: str) -> str | None:
    """The kind of value `name` holds (`id`, `int`, `bool`, `text`, `state`, `json`,
    `number`), or None when no run has such a field."""
    for pattern, kind in _PATTERNS:
        if pattern.match(name):
            return kind
    return None


def field_value(run: TrainingRun, name: str) -> Any:
    """The value of field `name` in `run` (None where the run has none)."""
    parts = name.split(".")
    if parts[0] in ("id", "experiment", "observation", "suggestion", "client", "user"):
        raw = getattr(run, parts[0])
        return None if raw is None else int(raw)
    if parts[0] in ("finished", "completed"):
        return run.completed
    if parts[0] in ("created", "updated", "deleted", "favorite", "name"):
        return getattr(run, parts[0])
    if parts[0] == "state":
        return run.state.value
    if parts[0] == "values":
        evaluation = run.values.get(parts[1])
        return None if evaluation is None else getattr(evaluation, parts[2])
    found: Any = run.model_dump(mode="json")
    for part in parts:
        found = found.get(part) if isinstance(found, dict) else None
    return found


def _orderable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (
        isinstance(a, str) and isinstance(b, str)
    )


@dataclasses.dataclass(frozen=True)
class RunFilter:
    """`field operator value`, as sigopt-server's filters: a run without the field
    matches only `isnull`; ordering operators compare numbers with numbers and text with
    text only (anything else does not match)."""

    field: str
    operator: RunFilterOperator
    value: Any = None

    def matches(self, run: TrainingRun) -> bool:
        have = field_value(run, self.field)
        if self.operator == "isnull":
            return have is None
        if have is None:
            return False
        if self.operator in ("==", "!="):
            # `is` for booleans: True must not equal 1.
            if isinstance(have, bool) or isinstance(self.value, bool):
                equal = have is self.value
            else:
                equal = bool(have == self.value)
            return equal if self.operator == "==" else not equal
        if not _orderable(have, self.value):
            return False
        ops = {">=": have >= self.value, ">": have > self.value, "<=": have <= self.value}
        return bool(ops.get(self.operator, have < self.value))


@dataclasses.dataclass(frozen=True)
class RunListing:
    """Filters (all must match), a name search (ASCII case-insensitive, as experiments'),
    and the order: by `sort` (a field of `RUN_FIELDS`; runs without it are left out, as
    sigopt-server's query does), ties by id, newest first unless `ascending`."""

    filters: tuple[RunFilter, ...] = ()
    search: str | None = None
    sort: str = "id"
    ascending: bool = False

    def matches(self, run: TrainingRun) -> bool:
        if self.search is not None:
            needle = ascii_lower(self.search.strip())
            if needle not in ascii_lower(run.name or ""):
                return False
        if self.sort != "id" and field_value(run, self.sort) is None:
            return False
        return all(f.matches(run) for f in self.filters)

    def key(self, run: TrainingRun) -> tuple[Any, ...]:
        rid = int(run.id)
        if self.sort == "id":
            return (rid,)
        value = field_value(run, self.sort)
        # Mixed kinds under one key (a string and a number) order by kind first.
        return (isinstance(value, str), value, rid)

    def page(
        self,
        runs: Sequence[TrainingRun],
        cursor: int | None,
        limit: int,
        find: Callable[[int], TrainingRun] | None = None,
    ) -> tuple[list[TrainingRun], int, bool]:
        """The runs that match, in this order past where the run whose id is `cursor`
        sorts: the page, the count of all that match, and whether more follow.

        The cursor's run need not match any more (completed, renamed, deleted or moved to
        another project since the page that ended with it): its place is where it sorts
        now, looked up in `runs`, else with `find` (`RecordNotFound`: none follow), as
        `ObservationOrder.page` does. None follow a run that has no value to sort by."""
        chosen = [r for r in runs if self.matches(r)]
        mark = None
        if cursor is not None:
            mark = self._mark(runs, cursor, find)
            if mark is None:
                return [], len(chosen), False
        items, has_more = keyed_page(
            chosen, self.key, ascending=self.ascending, limit=limit, mark=mark
        )
        return items, len(chosen), has_more

    def _mark(
        self,
        runs: Sequence[TrainingRun],
        cursor: int,
        find: Callable[[int], TrainingRun] | None,
    ) -> tuple[Any, ...] | None:
        at = next((r for r in runs if int(r.id) == cursor), None)
        if at is None and find is not None:
            try:
                at = find(cursor)
            except RecordNotFound:
                return None
        if at is None or (self.sort != "id" and field_value(at, self.sort) is None):
            return None
        return self.key(at)
