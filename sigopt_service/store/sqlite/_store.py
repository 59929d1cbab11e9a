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
(`_schema.py`); the connection set-up and the unit of work are in `_connection.py`. The
SQL itself is shared with PostgreSQL (`store/sql/`, `SqlStore`).
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
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from sigopt_service.errors import DatabaseError
from sigopt_service.store.sql import SqlConnection, SqlStore
from sigopt_service.store.sqlite._connection import (
    SYNCHRONOUS,
    SqliteConnection,
    connect,
    transaction,
)
from sigopt_service.store.sqlite._schema import migrate_in_tx

#: With `autocheckpoint=False`: writes between two checkpoints, about SQLite's own default
#: of 1,000 WAL pages at the 3-4 pages a suggestion or observation write touches.
CHECKPOINT_EVERY_WRITES = 256


class SqliteStore(SqlStore):
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
        self._conn: SqliteConnection | None = None
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
    def _transaction(self, *, write: bool = True) -> Iterator[SqlConnection]:
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
