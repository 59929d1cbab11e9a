"""The queued suggestions of the SQL stores: the contract's queue (`store/base.py`) on the
`queued_suggestions` table (schema v3). An entry is waiting while `deleted = 0`; serving
one inserts its suggestion and marks the entry, naming that suggestion, in one transaction.
"""

from __future__ import annotations

import json
from typing import Any

from sigopt_service.errors import RecordNotFound
from sigopt_service.models import Assignments, Metadata, QueuedSuggestion, Suggestion, Task
from sigopt_service.store._changes import now_s
from sigopt_service.store.base import Page
from sigopt_service.store.sql._dialect import SqlConnection
from sigopt_service.store.sql._rows import (
    claim_experiment_in_tx,
    dumps,
    dumps_optional,
    loads_optional,
    lock_experiment_in_tx,
    page_in_tx,
    require_experiment_in_tx,
    task_text,
)
from sigopt_service.store.sql._unit import SqlUnit

QUEUED_COLUMNS = "id, experiment_id, assignments, created, task"
_WAITING = "experiment_id = ? AND deleted = 0"


def queued_from_row(row: tuple[Any, ...]) -> QueuedSuggestion:
    return QueuedSuggestion(
        id=str(row[0]),
        experiment=str(row[1]),
        assignments=json.loads(row[2]),
        created=row[3],
        task=loads_optional(row[4]),
    )


def waiting_row_in_tx(conn: SqlConnection, experiment_id: int, queued_id: int) -> tuple[Any, ...]:
    """The row of an entry still waiting; RecordNotFound for the experiment or the entry."""
    require_experiment_in_tx(conn, experiment_id)
    row = conn.execute(
        f"SELECT {QUEUED_COLUMNS} FROM queued_suggestions WHERE id = ? AND {_WAITING}",
        (queued_id, experiment_id),
    ).fetchone()
    if row is None:
        raise RecordNotFound("queued_suggestion", queued_id, experiment_id)
    return tuple(row)


def insert_suggestion_in_tx(
    conn: SqlConnection,
    experiment_id: int,
    assignments_json: str,
    metadata: Metadata | None,
    now: int,
    task_json: str | None = None,
) -> int:
    """Insert an open suggestion (the experiment already checked); its new id."""
    return conn.insert(
        "INSERT INTO suggestions (experiment_id, assignments, metadata, created, task) "
        "VALUES (?, ?, ?, ?, ?)",
        (experiment_id, assignments_json, dumps_optional(metadata), now, task_json),
    )


class SqlQueue(SqlUnit):
    """The queue part of the SQL stores."""

    def create_queued_suggestion(
        self, experiment_id: int, assignments: Assignments, *, task: Task | None = None
    ) -> QueuedSuggestion:
        assignments_json = dumps(assignments)
        task_json = task_text(task)
        now = now_s()
        with self._transaction() as conn:
            claim_experiment_in_tx(conn, experiment_id)
            queued_id = conn.insert(
                "INSERT INTO queued_suggestions (experiment_id, assignments, created, task) "
                "VALUES (?, ?, ?, ?)",
                (experiment_id, assignments_json, now, task_json),
            )
        return queued_from_row((queued_id, experiment_id, assignments_json, now, task_json))

    def get_queued_suggestion(self, experiment_id: int, queued_id: int) -> QueuedSuggestion:
        with self._transaction(write=False) as conn:
            return queued_from_row(waiting_row_in_tx(conn, experiment_id, queued_id))

    def list_queued_suggestions(
        self,
        experiment_id: int,
        *,
        ascending: bool = False,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[QueuedSuggestion]:
        with self._transaction(write=False) as conn:
            require_experiment_in_tx(conn, experiment_id)
            rows, count, has_more = page_in_tx(
                conn,
                select=QUEUED_COLUMNS,
                table="queued_suggestions",
                where=_WAITING,
                params=(experiment_id,),
                ascending=ascending,
                limit=limit,
                cursor=cursor,
            )
        return Page([queued_from_row(r) for r in rows], count, has_more)

    def delete_queued_suggestion(self, experiment_id: int, queued_id: int) -> None:
        with self._transaction() as conn:
            lock_experiment_in_tx(conn, experiment_id)
            waiting_row_in_tx(conn, experiment_id, queued_id)
            conn.execute("UPDATE queued_suggestions SET deleted = 1 WHERE id = ?", (queued_id,))

    def serve_queued_suggestion(
        self, experiment_id: int, queued_id: int, metadata: Metadata | None = None
    ) -> Suggestion:
        now = now_s()
        with self._transaction() as conn:
            lock_experiment_in_tx(conn, experiment_id)
            row = waiting_row_in_tx(conn, experiment_id, queued_id)
            suggestion_id = insert_suggestion_in_tx(
                conn, experiment_id, row[2], metadata, now, row[4]
            )
            conn.execute(
                "UPDATE queued_suggestions SET deleted = 1, suggestion_id = ? WHERE id = ?",
                (suggestion_id, queued_id),
            )
        return Suggestion(
            id=str(suggestion_id),
            experiment=str(experiment_id),
            assignments=json.loads(row[2]),
            metadata=None if metadata is None else dict(metadata),
            created=now,
            task=loads_optional(row[4]),
        )
