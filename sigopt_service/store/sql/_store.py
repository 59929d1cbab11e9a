"""`SqlStore`: the store contract in SQL, written once for SQLite and PostgreSQL; a
subclass gives the connection and its unit of work (`_transaction`) and the schema.

```
SqlStore(SqlQueue, SqlListings, SqlTokens, SqlRuns)   experiments, suggestions, observations
  SqliteStore    store/sqlite/: one file in WAL mode, one process
  PostgresStore  store/postgres/: a server, any number of service processes
```
Every public method runs in one transaction and has committed when it returns. Writes
that change an experiment's suggestions or observations lock its row first
(`lock_experiment_in_tx`): on PostgreSQL that makes them run one at a time per experiment
across processes, so an observation's "observed once" check and the counts a budget check
reads see every other process's commits; on SQLite the write transaction already holds
the file's only write lock.

Suggestion state is derived as the contract says: a suggestion is closed iff an observation
row references it; since schema v2 a `closed` flag, kept in the same transaction as the
observation's insert or move (`_updates.py`: a move away may reopen a suggestion), caches
that derivation so open counts are an index range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sigopt_service.errors import RecordNotFound
from sigopt_service.models import (
    Assignments,
    Experiment,
    Metadata,
    Observation,
    Suggestion,
    Task,
)
from sigopt_service.store._changes import (
    check_update_keys,
    now_s,
    observation_changes,
    plain_changes,
)
from sigopt_service.store.base import (
    EXPERIMENT_UPDATABLE,
    NewExperiment,
    NewObservation,
)
from sigopt_service.store.sql._listing import SqlListings
from sigopt_service.store.sql._queue import SqlQueue, insert_suggestion_in_tx
from sigopt_service.store.sql._rows import (
    IS_OPEN,
    claim_experiment_in_tx,
    dumps,
    dumps_optional,
    experiment_from_row,
    experiment_row_in_tx,
    history_rows_in_tx,
    insert_experiment_in_tx,
    insert_observation_in_tx,
    lock_experiment_in_tx,
    note_rewrite_in_tx,
    observation_from_row,
    observation_in_tx,
    open_suggestion_rows_in_tx,
    require_experiment_in_tx,
    suggestion_from_row,
    suggestion_in_tx,
    task_text,
    update_experiment_in_tx,
)
from sigopt_service.store.sql._runs import SqlRuns
from sigopt_service.store.sql._tokens import SqlTokens
from sigopt_service.store.sql._updates import update_observation_in_tx


class _DryRun(Exception):
    """Rolls back a dry run's transaction once every check has passed."""


class SqlStore(SqlQueue, SqlListings, SqlTokens, SqlRuns):
    """The contract's core (experiments, suggestions, observations) in SQL; the queue,
    listings, tokens and runs are its parts. Abstract: a subclass gives `_transaction`."""

    # -- experiments --------------------------------------------------------------------
    def create_experiment(self, new: NewExperiment) -> Experiment:
        data = new.model_dump(mode="json")
        now = now_s()
        with self._transaction() as conn:
            experiment_id = insert_experiment_in_tx(conn, data, now)
        # `data` is a fresh dump, so the caller keeps owning `new`.
        return Experiment.model_validate(
            {**data, "id": str(experiment_id), "created": now, "updated": now}
        )

    def get_experiment(self, experiment_id: int) -> Experiment:
        with self._transaction(write=False) as conn:
            return experiment_from_row(experiment_row_in_tx(conn, experiment_id))

    def update_experiment(self, experiment_id: int, changes: Mapping[str, Any]) -> Experiment:
        check_update_keys(changes, EXPERIMENT_UPDATABLE)
        with self._transaction() as conn:
            lock_experiment_in_tx(conn, experiment_id)
            current = experiment_from_row(experiment_row_in_tx(conn, experiment_id))
            updated = Experiment.model_validate(
                {**current.model_dump(), **plain_changes(changes), "updated": now_s()}
            )
            update_experiment_in_tx(conn, experiment_id, updated.model_dump(mode="json"))
            note_rewrite_in_tx(conn, experiment_id)
        return updated

    # -- suggestions --------------------------------------------------------------------
    def create_suggestion(
        self,
        experiment_id: int,
        assignments: Assignments,
        metadata: Metadata | None = None,
        *,
        task: Task | None = None,
    ) -> Suggestion:
        assignments_json = dumps(assignments)
        now = now_s()
        with self._transaction() as conn:
            claim_experiment_in_tx(conn, experiment_id)
            suggestion_id = insert_suggestion_in_tx(
                conn, experiment_id, assignments_json, metadata, now, task_text(task)
            )
        return Suggestion(
            id=str(suggestion_id),
            experiment=str(experiment_id),
            # Validation copies the dicts: the caller keeps owning its arguments.
            assignments=assignments,
            metadata=metadata,
            created=now,
            task=task,
        )

    def get_suggestion(self, experiment_id: int, suggestion_id: int) -> Suggestion:
        with self._transaction(write=False) as conn:
            return suggestion_in_tx(conn, experiment_id, suggestion_id)

    def update_suggestion(
        self, experiment_id: int, suggestion_id: int, metadata: Metadata | None
    ) -> Suggestion:
        with self._transaction() as conn:
            current = suggestion_in_tx(conn, experiment_id, suggestion_id)
            conn.execute(
                "UPDATE suggestions SET metadata = ? WHERE id = ?",
                (dumps_optional(metadata), suggestion_id),
            )
        return current.model_copy(update={"metadata": None if metadata is None else dict(metadata)})

    def delete_suggestion(self, experiment_id: int, suggestion_id: int) -> None:
        with self._transaction() as conn:
            lock_experiment_in_tx(conn, experiment_id)
            suggestion_in_tx(conn, experiment_id, suggestion_id)
            conn.execute("UPDATE suggestions SET deleted = 1 WHERE id = ?", (suggestion_id,))
            note_rewrite_in_tx(conn, experiment_id)

    def delete_suggestions(self, experiment_id: int, *, open_only: bool) -> int:
        where = IS_OPEN if open_only else "deleted = 0"
        with self._transaction() as conn:
            claim_experiment_in_tx(conn, experiment_id)
            cur = conn.execute(
                f"UPDATE suggestions SET deleted = 1 WHERE experiment_id = ? AND {where}",
                (experiment_id,),
            )
            note_rewrite_in_tx(conn, experiment_id)
            return cur.rowcount

    def suggestion_count(self, experiment_id: int) -> int:
        with self._transaction(write=False) as conn:
            require_experiment_in_tx(conn, experiment_id)
            row = conn.execute(
                "SELECT COUNT(*) FROM suggestions WHERE experiment_id = ?", (experiment_id,)
            ).fetchone()
            return int(row[0])

    # -- observations -------------------------------------------------------------------
    def create_observations(
        self,
        experiment_id: int,
        new: Sequence[NewObservation],
        *,
        allow_duplicates: bool = False,
        dry_run: bool = False,
    ) -> list[Observation]:
        now = now_s()
        named: set[int] | None = None if allow_duplicates else set()
        # One transaction for the batch: an unknown or already observed suggestion rolls
        # back every insert; a dry run rolls back on purpose.
        try:
            with self._transaction() as conn:
                claim_experiment_in_tx(conn, experiment_id)
                created = [
                    insert_observation_in_tx(conn, experiment_id, n, now, named) for n in new
                ]
                if dry_run:
                    raise _DryRun
        except _DryRun:
            return []
        return created

    def get_observation(self, experiment_id: int, observation_id: int) -> Observation:
        with self._transaction(write=False) as conn:
            return observation_in_tx(conn, experiment_id, observation_id)

    def update_observation(
        self,
        experiment_id: int,
        observation_id: int,
        changes: Mapping[str, Any],
        *,
        allow_duplicates: bool = False,
    ) -> Observation:
        values = observation_changes(changes)
        with self._transaction() as conn:
            lock_experiment_in_tx(conn, experiment_id)
            updated = update_observation_in_tx(
                conn, experiment_id, observation_id, values, allow_duplicates
            )
            note_rewrite_in_tx(conn, experiment_id)
            return updated

    def delete_observation(self, experiment_id: int, observation_id: int) -> None:
        with self._transaction() as conn:
            lock_experiment_in_tx(conn, experiment_id)
            observation_in_tx(conn, experiment_id, observation_id)
            conn.execute("UPDATE observations SET deleted = 1 WHERE id = ?", (observation_id,))
            note_rewrite_in_tx(conn, experiment_id)

    def delete_observations(self, experiment_id: int) -> int:
        with self._transaction() as conn:
            claim_experiment_in_tx(conn, experiment_id)
            cur = conn.execute(
                "UPDATE observations SET deleted = 1 WHERE experiment_id = ? AND deleted = 0",
                (experiment_id,),
            )
            note_rewrite_in_tx(conn, experiment_id)
            return cur.rowcount

    def history_rewrites(self, experiment_id: int) -> int:
        with self._transaction(write=False) as conn:
            row = conn.execute(
                "SELECT rewrites FROM experiments WHERE id = ?", (experiment_id,)
            ).fetchone()
        if row is None:
            raise RecordNotFound("experiment", experiment_id)
        return int(row[0])

    def all_observations(self, experiment_id: int) -> list[Observation]:
        with self._transaction(write=False) as conn:
            rows = history_rows_in_tx(conn, experiment_id)
        # Parsed after COMMIT: the read transaction stays as short as the query.
        return [observation_from_row(r) for r in rows]

    def open_suggestions(self, experiment_id: int) -> list[Suggestion]:
        with self._transaction(write=False) as conn:
            rows = open_suggestion_rows_in_tx(conn, experiment_id)
        return [suggestion_from_row(r, is_closed=False) for r in rows]
