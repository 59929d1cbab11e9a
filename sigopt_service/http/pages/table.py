"""The observations table, rendered on the server: its columns, and one page of rows
sorted by any column and filtered by status or by a metadata value.

```python
query = TableQuery.parse(request.query, columns)
table = observation_table(experiment, observations, query)  # table.rows: this page only
```
Sorting is stable and puts cells without a value last in either order; numbers sort as
numbers, anything else as text after them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from sigopt_service.best import metric_evaluation, metric_value
from sigopt_service.history_csv import FAILURE_REASON_KEY, metric_label
from sigopt_service.models import Experiment, Metric, Observation

PER_PAGE = 50
MAX_PER_PAGE = 500
Status = Literal["all", "completed", "failed"]
STATUSES: tuple[Status, ...] = ("all", "completed", "failed")


@dataclass(frozen=True)
class Column:
    key: str  # what `?sort=` names: "id", "param:x", "value:y", "meta:host", ...
    title: str
    kind: Literal["id", "time", "status", "param", "value", "reason", "meta", "suggestion", "task"]
    name: str = ""  # the parameter, metric or metadata key


def columns_of(experiment: Experiment, observations: Sequence[Observation]) -> list[Column]:
    meta_keys = sorted(
        {k for o in observations for k in (o.metadata or {}) if k != FAILURE_REASON_KEY}
    )
    return [
        Column("id", "id", "id"),
        Column("suggestion", "suggestion", "suggestion"),
        Column("created", "created (UTC)", "time"),
        Column("status", "status", "status"),
        # Multitask: the task; only full-cost observations are values of the objective.
        *([Column("task", "task", "task")] if experiment.tasks else []),
        # A conditional's value, then each parameter (blank where it is inactive).
        *(
            Column(f"param:{c['name']}", str(c["name"]), "param", str(c["name"]))
            for c in experiment.conditionals
        ),
        *(Column(f"param:{p.name}", p.name, "param", p.name) for p in experiment.parameters),
        *(
            Column(f"value:{metric_label(m.name)}", metric_label(m.name), "value", m.name or "")
            for m in experiment.metrics
        ),
        Column("reason", "failure reason", "reason"),
        *(Column(f"meta:{k}", k, "meta", k) for k in meta_keys),
    ]


def cell(experiment: Experiment, observation: Observation, column: Column) -> Any:
    """The raw value of one cell (None: empty)."""
    if column.kind == "id":
        return int(observation.id)
    if column.kind == "suggestion":
        return None if observation.suggestion is None else int(observation.suggestion)
    if column.kind == "time":
        return observation.created
    if column.kind == "status":
        return "failed" if observation.failed else "completed"
    if column.kind == "param":
        return observation.assignments.get(column.name)
    if column.kind == "task":
        return None if observation.task is None else observation.task.name
    if column.kind == "value":
        return metric_value(experiment, observation, _metric(experiment, column))
    metadata = observation.metadata or {}
    return metadata.get(FAILURE_REASON_KEY if column.kind == "reason" else column.name)


def _metric(experiment: Experiment, column: Column) -> Metric:
    return next(m for m in experiment.metrics if (m.name or "") == column.name)


def stddev(experiment: Experiment, observation: Observation, column: Column) -> float | None:
    """The value's standard deviation, for a metric column."""
    if column.kind != "value":
        return None
    evaluation = metric_evaluation(experiment, observation, _metric(experiment, column))
    return None if evaluation is None else evaluation.value_stddev


@dataclass(frozen=True)
class TableQuery:
    sort: str = "id"
    descending: bool = True
    status: Status = "all"
    meta_key: str = ""
    meta_value: str = ""
    page: int = 1
    per_page: int = PER_PAGE

    @classmethod
    def parse(cls, query: Mapping[str, str], columns: Sequence[Column]) -> TableQuery:
        """Unknown or malformed values fall back to the defaults: a page never fails
        over a stale link."""
        keys = {c.key for c in columns}
        status = query.get("status", "all")
        return cls(
            sort=query.get("sort", "id") if query.get("sort", "id") in keys else "id",
            descending=query.get("order", "desc") != "asc",
            status=status if status in STATUSES else "all",
            meta_key=query.get("meta_key", "")[:200],
            meta_value=query.get("meta_value", "")[:500],
            page=max(1, _int(query.get("page"), 1)),
            per_page=min(MAX_PER_PAGE, max(1, _int(query.get("per_page"), PER_PAGE))),
        )

    def link(self, **changes: Any) -> dict[str, str]:
        """The query string of this view with `changes`, for links (defaults left out)."""
        changed = replace(self, **changes)
        params = {
            "sort": changed.sort,
            "order": "desc" if changed.descending else "asc",
            "status": changed.status,
            "meta_key": changed.meta_key,
            "meta_value": changed.meta_value,
            "page": str(changed.page),
            "per_page": str(changed.per_page),
        }
        defaults = {"sort": "id", "order": "desc", "status": "all", "page": "1"}
        defaults |= {"per_page": str(PER_PAGE), "meta_key": "", "meta_value": ""}
        return {k: v for k, v in params.items() if defaults[k] != v}


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None and len(raw) < 10 else default
    except ValueError:
        return default


@dataclass(frozen=True)
class ObservationTable:
    columns: list[Column]
    rows: list[Observation]  # this page's
    query: TableQuery
    matching: int  # rows that pass the filters, over all pages
    total: int
    pages: int


def _sort_key(value: Any) -> tuple[int, float, str]:
    if isinstance(value, bool):
        return (1, 0.0, str(value).lower())
    if isinstance(value, int | float) and not math.isnan(value):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _matches(observation: Observation, query: TableQuery) -> bool:
    if query.status == "failed" and not observation.failed:
        return False
    if query.status == "completed" and observation.failed:
        return False
    if query.meta_key:
        value = (observation.metadata or {}).get(query.meta_key)
        if value is None or _as_text(value) != query.meta_value:
            return False
    return True


def _as_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def observation_table(
    experiment: Experiment, observations: Sequence[Observation], query: TableQuery
) -> ObservationTable:
    columns = columns_of(experiment, observations)
    by_key = {c.key: c for c in columns}
    column = by_key.get(query.sort, by_key["id"])
    kept = [o for o in observations if _matches(o, query)]
    valued = [(cell(experiment, o, column), o) for o in kept]
    present = [(v, o) for v, o in valued if v is not None]
    missing = [o for v, o in valued if v is None]
    present.sort(key=lambda item: _sort_key(item[0]), reverse=query.descending)
    ordered = [o for _, o in present] + missing
    pages = max(1, math.ceil(len(ordered) / query.per_page))
    page = min(query.page, pages)
    start = (page - 1) * query.per_page
    return ObservationTable(
        columns=columns,
        rows=ordered[start : start + query.per_page],
        query=replace(query, page=page),
        matching=len(ordered),
        total=len(observations),
        pages=pages,
    )
