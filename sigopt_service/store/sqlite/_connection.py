"""The connection to `SqliteStore`'s file: opening it (owner-only, WAL, PRAGMAs) and the
unit of work every store method runs in.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from sigopt_service.errors import DatabaseError
from sigopt_service.store.sql import SQLITE, Dialect

SYNCHRONOUS = {"NORMAL": "NORMAL", "FULL": "FULL"}


class SqliteConnection(sqlite3.Connection):
    """A `sqlite3.Connection` that names its dialect, for the shared SQL (`store/sql/`)."""

    dialect: Dialect = SQLITE
    #: Never set: SQLite's write transactions lock the whole file instead.
    locked_experiment: int | None = None

    def insert(self, sql: str, parameters: Any, /) -> int:
        # `lastrowid`, not RETURNING: a RETURNING statement costs SQLite more per row
        # (measured on the hot path's two inserts).
        row_id = self.execute(sql, parameters).lastrowid
        assert row_id is not None  # an INSERT into a rowid table always sets it
        return row_id


def _create_private(path: Path) -> None:
    """Create a new database file readable and writable by its owner only (0o600), whatever
    the umask; SQLite gives its -wal and -shm files the database file's mode."""
    if str(path) == ":memory:" or path.exists():
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # sqlite3.connect reports it, as a DatabaseError


def connect(
    path: Path, synchronous: Literal["NORMAL", "FULL"], busy_timeout_s: float
) -> SqliteConnection:
    """Open (or create, owner-only) the database file and set its PRAGMAs; `DatabaseError`
    if it cannot be opened."""
    _create_private(path)
    try:
        # isolation_level=None: the driver never opens transactions behind our back;
        # `transaction()` issues BEGIN/COMMIT itself.
        conn = sqlite3.connect(
            path,
            timeout=busy_timeout_s,
            isolation_level=None,
            check_same_thread=False,
            factory=SqliteConnection,
        )
    except sqlite3.Error as exc:
        raise DatabaseError(f"Cannot open database {path}: {exc}") from exc
    try:
        # PRAGMAs take no bound parameters; these values come from this module only.
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS[synchronous]}")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        conn.close()
        raise DatabaseError(f"Cannot open database {path}: {exc}") from exc
    return conn


@contextlib.contextmanager
def transaction(conn: SqliteConnection | None, *, write: bool) -> Iterator[SqliteConnection]:
    """One unit of work: commit on success, roll back on any exception; `sqlite3` errors
    become `DatabaseError`, chained. `conn` None means the store was closed.

    Writers take the write lock up front (BEGIN IMMEDIATE) so a busy database fails at
    BEGIN, within busy_timeout, instead of at COMMIT after the work was done. Readers
    use a deferred BEGIN so a listing's count and items come from one snapshot.
    """
    if conn is None:
        raise DatabaseError("The store is closed")
    try:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    except sqlite3.Error as exc:
        raise DatabaseError(f"Database error: {exc}") from exc
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        # A failed COMMIT can leave the transaction open; never leave it dangling.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise DatabaseError(f"Database error: {exc}") from exc
        raise
