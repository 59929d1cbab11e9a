"""The durable store: `BaseStore` on one SQLite file in WAL mode.

    store = SqliteStore("runs/service.db")            # creates or migrates the schema
    experiment = store.create_experiment(new)
    store.close()

Durability: every public method runs in one transaction (`_transaction()`) and has
committed when it returns. In WAL mode with `synchronous="NORMAL"` (the default) a commit
is in the WAL file, i.e. in the OS page cache, before the method returns: it survives the
process being killed (kill -9, OOM) but the last commits may be lost on power loss or an OS
crash (the database stays consistent). `synchronous="FULL"` fsyncs the WAL on every commit
and so also survives power loss, at the price of one fsync per write call.

Schema: versioned in `PRAGMA user_version` and migrated when the store opens
(`_schema.py`); the connection set-up and the unit of work are in `_connection.py`, the
row <-> model converters and the in-transaction row helpers in `_rows.py`; two parts of
the store live apart: its listings (`_listing.py`), its queued suggestions
(`_queue.py`), its API tokens (`_tokens.py`) and its projects, training runs and
checkpoints (`_runs.py`).

Suggestion state is derived as the contract says: a suggestion is closed iff an observation
row references it; since schema v2 a `closed` flag, kept in the same transaction as the
observation's insert or move (`_updates.py`: a move away may reopen a suggestion), caches
that derivation so open counts are an index range.
WAL checkpoints: SQLite's automatic checkpoint runs inside whichever commit crosses 1,000
WAL pages and syncs the files, waiting on the disk. The service runs quick writes on its
event loop, so it opens the store with `autocheckpoint=False` and runs `maintain()` (a
passive checkpoint every `CHECKPOINT_EVERY_WRITES` writes) on its store thread instead.

Like every store, this one is not thread-safe: the service serializes calls, which is also
why the connection may be opened with `check_same_thread=False`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from sigopt_service.errors import DatabaseError
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
from sigopt_service.store.sqlite._connection import SYNCHRONOUS, connect, transaction
from sigopt_service.store.sqlite._listing import SqliteListings
from sigopt_service.store.sqlite._queue import SqliteQueue, insert_suggestion_in_tx
from sigopt_service.store.sqlite._rows import (
    IS_OPEN,
    dumps,
    dumps_optional,
    experiment_from_row,
    experiment_row_in_tx,
    history_rows_in_tx,
    insert_experiment_in_tx,
    insert_observation_in_tx,
    observation_from_row,
    observation_in_tx,
    open_suggestion_rows_in_tx,
    require_experiment_in_tx,
    suggestion_from_row,
    suggestion_in_tx,
    task_text,
    update_experiment_in_tx,
)
from sigopt_service.store.sqlite._runs import SqliteRuns
from sigopt_service.store.sqlite._schema import migrate_in_tx
from sigopt_service.store.sqlite._tokens import SqliteTokens
from sigopt_service.store.sqlite._updates import update_observation_in_tx


class _DryRun(Exception):
    """Rolls back a dry run's transaction once every check has passed."""


#: With `autocheckpoint=False`: writes between two checkpoints, about SQLite's own default
#: of 1,000 WAL pages at the 3-4 pages a suggestion or observation write touches.
CHECKPOINT_EVERY_WRITES = 256


class SqliteStore(SqliteQueue, SqliteListings, SqliteTokens, SqliteRuns):
    """`BaseStore` on a SQLite file; see the module docstring for durability and schema."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout_s: float = 5.0,
        autocheckpoint: bool = True,
        read_only: bool = False,
    ) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.path = Path(path)
        # FULL fsyncs on every commit: milliseconds, never to be run on an event loop.
        self.writes_are_quick = synchronous == "NORMAL"
        self._autocheckpoint = autocheckpoint
        self._writes_since_checkpoint = 0
        self._conn: sqlite3.Connection | None = None
        conn = connect(self.path, synchronous, busy_timeout_s)
        self._conn = conn
        try:
            if not autocheckpoint:
                conn.execute("PRAGMA wal_autocheckpoint = 0").fetchone()
            self._migrate()
            if read_only:  # after the migration: every write then raises DatabaseError
                conn.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            self._conn = None
            raise

    def __repr__(self) -> str:
        state = "open" if self._conn is not None else "closed"
        return f"<SqliteStore path={str(self.path)!r} {state}>"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def maintenance_due(self) -> bool:
        return not self._autocheckpoint and self._writes_since_checkpoint >= CHECKPOINT_EVERY_WRITES

    def maintain(self) -> None:
        """A passive checkpoint (it never waits for readers) when one is due."""
        if not self.maintenance_due or self._conn is None:
            return
        # Counted as done even when it fails: the next try comes after as many writes.
        self._writes_since_checkpoint = 0
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            raise DatabaseError(f"Database error during a checkpoint: {exc}") from exc

    # -- unit of work -------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """`transaction()` on this store's connection; a committed write counts towards
        the next checkpoint."""
        with transaction(self._conn, write=write) as conn:
            yield conn
        if write:
            self._writes_since_checkpoint += 1

    def _migrate(self) -> None:
        with self._transaction() as conn:
            migrate_in_tx(conn, self.path)

    def schema_version(self) -> int:
        with self._transaction(write=False) as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

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
            current = experiment_from_row(experiment_row_in_tx(conn, experiment_id))
            updated = Experiment.model_validate(
                {**current.model_dump(), **plain_changes(changes), "updated": now_s()}
            )
            update_experiment_in_tx(conn, experiment_id, updated.model_dump(mode="json"))
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
            require_experiment_in_tx(conn, experiment_id)
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
            suggestion_in_tx(conn, experiment_id, suggestion_id)
            conn.execute("UPDATE suggestions SET deleted = 1 WHERE id = ?", (suggestion_id,))

    def delete_suggestions(self, experiment_id: int, *, open_only: bool) -> int:
        where = IS_OPEN if open_only else "deleted = 0"
        with self._transaction() as conn:
            require_experiment_in_tx(conn, experiment_id)
            cur = conn.execute(
                f"UPDATE suggestions SET deleted = 1 WHERE experiment_id = ? AND {where}",
                (experiment_id,),
            )
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
                require_experiment_in_tx(conn, experiment_id)
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
            return update_observation_in_tx(
                conn, experiment_id, observation_id, values, allow_duplicates
            )

    def delete_observation(self, experiment_id: int, observation_id: int) -> None:
        with self._transaction() as conn:
            observation_in_tx(conn, experiment_id, observation_id)
            conn.execute("UPDATE observations SET deleted = 1 WHERE id = ?", (observation_id,))

    def delete_observations(self, experiment_id: int) -> int:
        with self._transaction() as conn:
            require_experiment_in_tx(conn, experiment_id)
            cur = conn.execute(
                "UPDATE observations SET deleted = 1 WHERE experiment_id = ? AND deleted = 0",
                (experiment_id,),
            )
            return cur.rowcount

    def all_observations(self, experiment_id: int) -> list[Observation]:
        with self._transaction(write=False) as conn:
            rows = history_rows_in_tx(conn, experiment_id)
        # Parsed after COMMIT: the read transaction stays as short as the query.
        return [observation_from_row(r) for r in rows]

    def open_suggestions(self, experiment_id: int) -> list[Suggestion]:
        with self._transaction(write=False) as conn:
            rows = open_suggestion_rows_in_tx(conn, experiment_id)
        return [suggestion_from_row(r, is_closed=False) for r in rows]
