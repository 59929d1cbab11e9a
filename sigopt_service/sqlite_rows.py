"""Rows of `SqliteStore` and the models they hold: column lists, JSON columns, row -> model
converters, and the row reads and inserts the store runs inside an open transaction
(the `_in_tx` helpers: they never BEGIN or COMMIT).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from sigopt_service.errors import InvalidRequest, NotFound
from sigopt_service.models import Experiment, Observation, Suggestion, SuggestionState
from sigopt_service.store import NewObservation, check_observed_once

_EXPERIMENT_COLUMNS = (
    "id, name, type, parameters, metrics, observation_budget, parallel_bandwidth, "
    "num_solutions, conditionals, linear_constraints, metadata, project, state, created, "
    "updated"
)
_SUGGESTION_COLUMNS = "id, experiment_id, assignments, metadata, created, deleted"
_OBSERVATION_COLUMNS = (
    'id, experiment_id, suggestion_id, assignments, "values", failed, metadata, created, deleted'
)
_IS_CLOSED = "closed"
_IS_OPEN = "deleted = 0 AND closed = 0"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _dumps_optional(value: Any) -> str | None:
    return None if value is None else _dumps(value)


def _loads_optional(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _experiment_from_row(row: tuple[Any, ...]) -> Experiment:
    return Experiment.model_validate(
        {
            "id": str(row[0]),
            "name": row[1],
            "type": row[2],
            "parameters": json.loads(row[3]),
            "metrics": json.loads(row[4]),
            "observation_budget": row[5],
            "parallel_bandwidth": row[6],
            "num_solutions": row[7],
            "conditionals": json.loads(row[8]),
            "linear_constraints": json.loads(row[9]),
            "metadata": _loads_optional(row[10]),
            "project": row[11],
            "state": row[12],
            "created": row[13],
            "updated": row[14],
        }
    )


def _suggestion_from_row(row: tuple[Any, ...], *, is_closed: bool) -> Suggestion:
    return Suggestion(
        id=str(row[0]),
        experiment=str(row[1]),
        assignments=json.loads(row[2]),
        metadata=_loads_optional(row[3]),
        created=row[4],
        deleted=bool(row[5]),
        state=SuggestionState.CLOSED if is_closed else SuggestionState.OPEN,
    )


def _observation_from_row(row: tuple[Any, ...]) -> Observation:
    # The JSON columns are spliced into one document for pydantic-core's parser: twice as
    # fast as json.loads plus dict validation, and the history load is row-count bound.
    # Only integers and JSON this store wrote itself go in, never request text.
    suggestion = "null" if row[2] is None else f'"{int(row[2])}"'
    return Observation.model_validate_json(
        f'{{"id":"{int(row[0])}","experiment":"{int(row[1])}","suggestion":{suggestion},'
        f'"assignments":{row[3]},"values":{row[4]},"failed":{"true" if row[5] else "false"},'
        f'"metadata":{row[6] or "null"},"created":{int(row[7])},'
        f'"deleted":{"true" if row[8] else "false"}}}'
    )


# -- helpers inside an open transaction ---------------------------------------------
def _experiment_row_in_tx(conn: sqlite3.Connection, experiment_id: int) -> tuple[Any, ...]:
    row = conn.execute(
        f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE id = ?", (experiment_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"No experiment {experiment_id}")
    return tuple(row)


def _require_experiment_in_tx(conn: sqlite3.Connection, experiment_id: int) -> None:
    if conn.execute("SELECT 1 FROM experiments WHERE id = ?", (experiment_id,)).fetchone():
        return
    raise NotFound(f"No experiment {experiment_id}")


def _suggestion_in_tx(
    conn: sqlite3.Connection, experiment_id: int, suggestion_id: int
) -> Suggestion:
    _require_experiment_in_tx(conn, experiment_id)
    row = conn.execute(
        f"SELECT {_SUGGESTION_COLUMNS}, {_IS_CLOSED} "
        "FROM suggestions WHERE id = ? AND experiment_id = ?",
        (suggestion_id, experiment_id),
    ).fetchone()
    if row is None:
        raise NotFound(f"No suggestion {suggestion_id} for experiment {experiment_id}")
    return _suggestion_from_row(row, is_closed=bool(row[6]))


def _observation_in_tx(
    conn: sqlite3.Connection, experiment_id: int, observation_id: int
) -> Observation:
    _require_experiment_in_tx(conn, experiment_id)
    row = conn.execute(
        f"SELECT {_OBSERVATION_COLUMNS} FROM observations WHERE id = ? AND experiment_id = ?",
        (observation_id, experiment_id),
    ).fetchone()
    if row is None:
        raise NotFound(f"No observation {observation_id} for experiment {experiment_id}")
    return _observation_from_row(row)


def _page_in_tx(
    conn: sqlite3.Connection,
    *,
    select: str,
    table: str,
    where: str,
    params: Sequence[Any],
    ascending: bool,
    limit: int,
    cursor: int | None,
) -> tuple[list[tuple[Any, ...]], int, bool]:
    """Rows of one page, the total count and whether more rows follow.

    `select`, `table` and `where` are SQL fragments from this module and `sqlite_store.py`,
    never input; every value travels in `params`.
    """
    if limit < 0:
        raise ValueError("limit must be >= 0")
    count = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()
    total = int(count[0])
    if cursor is None and (limit == 0 or total == 0):
        return [], total, total > 0
    order = "ASC" if ascending else "DESC"
    after = ""
    page_params = list(params)
    if cursor is not None:
        after = " AND id > ?" if ascending else " AND id < ?"
        page_params.append(cursor)
    # One row past the page tells whether another page follows.
    page_params.append(limit + 1)
    rows = conn.execute(
        f"SELECT {select} FROM {table} WHERE {where}{after} ORDER BY id {order} LIMIT ?",
        page_params,
    ).fetchall()
    return rows[:limit], total, len(rows) > limit


def _insert_observation_in_tx(
    conn: sqlite3.Connection,
    experiment_id: int,
    item: NewObservation,
    now: int,
    named: set[int] | None = None,
) -> Observation:
    """`named`: the batch's suggestions so far, to observe each once; None allows repeats."""
    if item.suggestion is None:
        assignments_json = _dumps(item.assignments or {})
    else:
        row = conn.execute(
            "SELECT assignments, closed FROM suggestions "
            "WHERE id = ? AND experiment_id = ? AND deleted = 0",
            (item.suggestion, experiment_id),
        ).fetchone()
        if row is None:
            raise InvalidRequest(
                f"No suggestion: {item.suggestion} for experiment: {experiment_id}"
            )
        assignments_json = row[0]
        if named is not None:
            check_observed_once(item.suggestion, experiment_id, named, closed=bool(row[1]))
        conn.execute("UPDATE suggestions SET closed = 1 WHERE id = ?", (item.suggestion,))
    values = [v.model_dump(mode="json") for v in item.values]
    cur = conn.execute(
        "INSERT INTO observations (experiment_id, suggestion_id, assignments, "
        '"values", failed, metadata, created) VALUES (?, ?, ?, ?, ?, ?, ?)',
        (
            experiment_id,
            item.suggestion,
            assignments_json,
            _dumps(values),
            int(item.failed),
            _dumps_optional(item.metadata),
            now,
        ),
    )
    return Observation(
        id=str(cur.lastrowid),
        experiment=str(experiment_id),
        suggestion=None if item.suggestion is None else str(item.suggestion),
        # Fresh from JSON, so neither the caller's nor the suggestion's dict is shared.
        assignments=json.loads(assignments_json),
        values=list(item.values),
        failed=item.failed,
        metadata=item.metadata,
        created=now,
    )
