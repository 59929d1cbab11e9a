"""Rows of the SQL stores and the models they hold: column lists, JSON columns, row -> model
converters, and the row reads and writes the store runs inside an open transaction
(the `*_in_tx` helpers: they never BEGIN or COMMIT).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sigopt_service.errors import RecordNotFound, UnknownSuggestion
from sigopt_service.models import Experiment, Observation, Suggestion, SuggestionState, Task
from sigopt_service.store._changes import check_observed_once
from sigopt_service.store.base import NewObservation
from sigopt_service.store.sql._dialect import SqlConnection

EXPERIMENT_COLUMNS = (
    "id, name, type, parameters, metrics, observation_budget, parallel_bandwidth, "
    "num_solutions, conditionals, linear_constraints, metadata, project, state, created, "
    "updated, development, runs_only, tasks"
)
SUGGESTION_COLUMNS = "id, experiment_id, assignments, metadata, created, deleted, task"
OBSERVATION_COLUMNS = (
    'id, experiment_id, suggestion_id, assignments, "values", failed, metadata, created, '
    "deleted, task"
)
IS_CLOSED = "closed"
IS_OPEN = "deleted = 0 AND closed = 0"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def dumps_optional(value: Any) -> str | None:
    return None if value is None else dumps(value)


def loads_optional(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def task_text(task: Task | None) -> str | None:
    """A task as its column holds it: JSON, NULL outside multitask."""
    return None if task is None else dumps(task.model_dump(mode="json"))


def experiment_from_row(row: tuple[Any, ...]) -> Experiment:
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
            "metadata": loads_optional(row[10]),
            "project": row[11],
            "state": row[12],
            "created": row[13],
            "updated": row[14],
            "development": bool(row[15]),
            "runs_only": bool(row[16]),
            "tasks": loads_optional(row[17]),
        }
    )


def suggestion_from_row(row: tuple[Any, ...], *, is_closed: bool) -> Suggestion:
    return Suggestion(
        id=str(row[0]),
        experiment=str(row[1]),
        assignments=json.loads(row[2]),
        metadata=loads_optional(row[3]),
        created=row[4],
        deleted=bool(row[5]),
        state=SuggestionState.CLOSED if is_closed else SuggestionState.OPEN,
        task=loads_optional(row[6]),
    )


def observation_from_row(row: tuple[Any, ...]) -> Observation:
    # The JSON columns are spliced into one document for pydantic-core's parser: faster
    # than json.loads plus dict validation, and the history load is row-count bound.
    # Only integers and JSON this store wrote itself go in, never request text.
    suggestion = "null" if row[2] is None else f'"{int(row[2])}"'
    return Observation.model_validate_json(
        f'{{"id":"{int(row[0])}","experiment":"{int(row[1])}","suggestion":{suggestion},'
        f'"assignments":{row[3]},"values":{row[4]},"failed":{"true" if row[5] else "false"},'
        f'"metadata":{row[6] or "null"},"created":{int(row[7])},'
        f'"deleted":{"true" if row[8] else "false"},"task":{row[9] or "null"}}}'
    )


# -- helpers inside an open transaction ---------------------------------------------
def experiment_row_in_tx(conn: SqlConnection, experiment_id: int) -> tuple[Any, ...]:
    row = conn.execute(
        f"SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE id = ?", (experiment_id,)
    ).fetchone()
    if row is None:
        raise RecordNotFound("experiment", experiment_id)
    return tuple(row)


def require_experiment_in_tx(conn: SqlConnection, experiment_id: int) -> None:
    if conn.locked_experiment == experiment_id:
        return  # found and locked by the transaction this call is part of
    if conn.execute("SELECT 1 FROM experiments WHERE id = ?", (experiment_id,)).fetchone():
        return
    raise RecordNotFound("experiment", experiment_id)


def note_rewrite_in_tx(conn: SqlConnection, experiment_id: int) -> None:
    """After a write that is no plain addition to the experiment's history (a delete, an
    update, a move): bump its `rewrites`, in the same transaction (`history_rewrites`)."""
    conn.execute("UPDATE experiments SET rewrites = rewrites + 1 WHERE id = ?", (experiment_id,))


def claim_experiment_in_tx(conn: SqlConnection, experiment_id: int) -> None:
    """`lock_experiment_in_tx` where the dialect locks (the lock finds the row, so it is
    also the existence check), else `require_experiment_in_tx`: one query either way."""
    if conn.dialect.lock_experiment is None:
        require_experiment_in_tx(conn, experiment_id)
    else:
        lock_experiment_in_tx(conn, experiment_id)


def lock_experiment_in_tx(conn: SqlConnection, experiment_id: int) -> None:
    """Before a write that changes the experiment's suggestions, observations, queue or
    runs (or reads it to rewrite it): take its row lock, so such writes of one experiment
    run one at a time across processes and each one's checks see the others' commits.
    A no-op on SQLite, whose write transactions hold the file's one write lock from BEGIN
    IMMEDIATE. RecordNotFound for an unknown experiment where it locks."""
    statement = conn.dialect.lock_experiment
    if conn.locked_experiment == experiment_id:
        return
    if statement is not None and conn.execute(statement, (experiment_id,)).fetchone() is None:
        raise RecordNotFound("experiment", experiment_id)


def insert_experiment_in_tx(conn: SqlConnection, data: dict[str, Any], now: int) -> int:
    """Insert an experiment from `NewExperiment.model_dump(mode="json")`; its new id."""
    return conn.insert(
        "INSERT INTO experiments (name, type, parameters, metrics, observation_budget, "
        "parallel_bandwidth, num_solutions, conditionals, linear_constraints, metadata, "
        "project, state, created, updated, development, runs_only, tasks) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?)",
        (
            data["name"],
            data["type"],
            dumps(data["parameters"]),
            dumps(data["metrics"]),
            data["observation_budget"],
            data["parallel_bandwidth"],
            data["num_solutions"],
            dumps(data["conditionals"]),
            dumps(data["linear_constraints"]),
            dumps_optional(data["metadata"]),
            data["project"],
            now,
            now,
            int(data["development"]),
            int(data["runs_only"]),
            dumps_optional(data["tasks"]),
        ),
    )


def update_experiment_in_tx(conn: SqlConnection, experiment_id: int, data: dict[str, Any]) -> None:
    """Write the updatable columns from `Experiment.model_dump(mode="json")`."""
    conn.execute(
        "UPDATE experiments SET name = ?, state = ?, observation_budget = ?, "
        "parallel_bandwidth = ?, metadata = ?, parameters = ?, metrics = ?, "
        "project = ?, updated = ? WHERE id = ?",
        (
            data["name"],
            data["state"],
            data["observation_budget"],
            data["parallel_bandwidth"],
            dumps_optional(data["metadata"]),
            dumps(data["parameters"]),
            dumps(data["metrics"]),
            data["project"],
            data["updated"],
            experiment_id,
        ),
    )


def suggestion_in_tx(conn: SqlConnection, experiment_id: int, suggestion_id: int) -> Suggestion:
    require_experiment_in_tx(conn, experiment_id)
    row = conn.execute(
        f"SELECT {SUGGESTION_COLUMNS}, {IS_CLOSED} "
        "FROM suggestions WHERE id = ? AND experiment_id = ?",
        (suggestion_id, experiment_id),
    ).fetchone()
    if row is None:
        raise RecordNotFound("suggestion", suggestion_id, experiment_id)
    return suggestion_from_row(row, is_closed=bool(row[-1]))


def observation_in_tx(conn: SqlConnection, experiment_id: int, observation_id: int) -> Observation:
    require_experiment_in_tx(conn, experiment_id)
    row = conn.execute(
        f"SELECT {OBSERVATION_COLUMNS} FROM observations WHERE id = ? AND experiment_id = ?",
        (observation_id, experiment_id),
    ).fetchone()
    if row is None:
        raise RecordNotFound("observation", observation_id, experiment_id)
    return observation_from_row(row)


def history_rows_in_tx(conn: SqlConnection, experiment_id: int) -> list[tuple[Any, ...]]:
    """Rows of every non-deleted observation, oldest first (for `observation_from_row`)."""
    require_experiment_in_tx(conn, experiment_id)
    return conn.execute(
        f"SELECT {OBSERVATION_COLUMNS} FROM observations "
        "WHERE experiment_id = ? AND deleted = 0 ORDER BY id",
        (experiment_id,),
    ).fetchall()


def open_suggestion_rows_in_tx(conn: SqlConnection, experiment_id: int) -> list[tuple[Any, ...]]:
    """Rows of every open, non-deleted suggestion, oldest first (for `suggestion_from_row`)."""
    require_experiment_in_tx(conn, experiment_id)
    return conn.execute(
        f"SELECT {SUGGESTION_COLUMNS} FROM suggestions "
        f"WHERE experiment_id = ? AND {IS_OPEN} ORDER BY id",
        (experiment_id,),
    ).fetchall()


def page_in_tx(
    conn: SqlConnection,
    *,
    select: str,
    table: str,
    where: str,
    params: Sequence[Any],
    ascending: bool,
    limit: int,
    cursor: int | None,
    key: Sequence[str] = ("id",),
    cursor_key: str = "?",
) -> tuple[list[tuple[Any, ...]], int, bool]:
    """Rows of one page, the total count and whether more rows follow.

    The rows are ordered by the `key` columns (which end in the id, so the order is total);
    the page starts past `cursor_key`, SQL for the key of the cursor's row from its id (a
    subquery naming no row gives NULL: nothing follows it). `select`, `table`, `where`,
    `key` and `cursor_key` are SQL fragments from this package, never input; every value
    travels in `params`.
    """
    if limit < 0:
        raise ValueError("limit must be >= 0")
    count = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()
    total = int(count[0])
    if cursor is None and (limit == 0 or total == 0):
        return [], total, total > 0
    direction, op = ("ASC", ">") if ascending else ("DESC", "<")
    after = ""
    page_params = list(params)
    if cursor is not None:
        after = f" AND ({', '.join(key)}) {op} {cursor_key}"
        page_params.append(cursor)
    # One row past the page tells whether another page follows.
    page_params.append(limit + 1)
    order = ", ".join(f"{column} {direction}" for column in key)
    rows = conn.execute(
        f"SELECT {select} FROM {table} WHERE {where}{after} ORDER BY {order} LIMIT ?",
        page_params,
    ).fetchall()
    return rows[:limit], total, len(rows) > limit


def close_suggestion_in_tx(
    conn: SqlConnection, experiment_id: int, suggestion_id: int, named: set[int] | None
) -> tuple[str, str | None]:
    """Close the suggestion an observation names (inserted or moved onto); its assignments
    and task as stored (JSON). Raises `UnknownSuggestion` for one that is unknown, deleted
    or of another experiment; with `named` (the batch's so far), `check_observed_once` too."""
    row = conn.execute(
        "SELECT assignments, closed, task FROM suggestions "
        "WHERE id = ? AND experiment_id = ? AND deleted = 0",
        (suggestion_id, experiment_id),
    ).fetchone()
    if row is None:
        raise UnknownSuggestion(suggestion_id, experiment_id)
    if named is not None:
        check_observed_once(suggestion_id, experiment_id, named, closed=bool(row[1]))
    conn.execute("UPDATE suggestions SET closed = 1 WHERE id = ?", (suggestion_id,))
    return str(row[0]), row[2]


def insert_observation_in_tx(
    conn: SqlConnection,
    experiment_id: int,
    item: NewObservation,
    now: int,
    named: set[int] | None = None,
) -> Observation:
    """`named`: the batch's suggestions so far, to observe each once; None allows repeats."""
    if item.suggestion is None:
        assignments_json = dumps(item.assignments or {})
        task_json = task_text(item.task)
    else:
        assignments_json, task_json = close_suggestion_in_tx(
            conn, experiment_id, item.suggestion, named
        )
    values = [v.model_dump(mode="json") for v in item.values]
    observation_id = conn.insert(
        "INSERT INTO observations (experiment_id, suggestion_id, assignments, "
        '"values", failed, metadata, created, task) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        (
            experiment_id,
            item.suggestion,
            assignments_json,
            dumps(values),
            int(item.failed),
            dumps_optional(item.metadata),
            now,
            task_json,
        ),
    )
    return Observation(
        id=str(observation_id),
        experiment=str(experiment_id),
        suggestion=None if item.suggestion is None else str(item.suggestion),
        # Fresh from JSON, so neither the caller's nor the suggestion's dict is shared.
        assignments=json.loads(assignments_json),
        values=list(item.values),
        failed=item.failed,
        metadata=item.metadata,
        created=now,
        task=loads_optional(task_json),
    )
