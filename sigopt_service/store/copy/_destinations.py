"""Where a copy writes: a PostgreSQL database (`PostgresDestination`, rows by COPY) or a
SQLite file (`SqliteDestination`, rows by `executemany`). Both first let their store
create or migrate the schema, then write everything in one transaction of their own.

Table and column names in the SQL here come from `TABLES` and from the databases' own
column lists, never from a user: they are quoted, not bound.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

from sigopt_service.config import PostgresUrl
from sigopt_service.errors import DatabaseError
from sigopt_service.store.copy._errors import CopyError, CopyErrorReason
from sigopt_service.store.copy._source import open_store_file, store_version
from sigopt_service.store.postgres import PostgresStore

#: Seconds: reaching the server, and waiting for a lock a running service holds on a
#: table (then the copy fails instead of hanging: stop the services first).
CONNECT_TIMEOUT_S = 5
LOCK_TIMEOUT_S = 10
#: Rows copied per batch, between two progress reports.
BATCH_ROWS = 5_000

Batches = Iterable[Sequence[Sequence[Any]]]


class Destination(Protocol):
    """A database a copy fills, each method inside `transaction()` but `close()`."""

    #: The database, for messages (no password).
    where: str

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Lock the tables against other writers; commit on success, roll back on any
        exception (nothing of the copy stays)."""

    def counts(self) -> dict[str, int]: ...

    def columns(self, table: str) -> list[str]: ...

    def write(
        self, table: str, columns: Sequence[str], batches: Batches, done: Callable[[int], None]
    ) -> None:
        """Insert every row of `batches` (tuples in `columns` order), ids included;
        `done(n)` after each batch of `n`."""

    def advance_ids(self, table: str, last_id: int) -> None:
        """Make the next id the table gives out greater than `last_id`."""

    def close(self) -> None: ...


def scrubbed(text: str, url: str) -> str:
    """`text` (a driver's message) without the password of `url`, should it quote it."""
    password = urlsplit(url).password
    for secret in {password, unquote(password)} if password else ():
        text = text.replace(secret, "***")
    return text


class PostgresDestination:
    """A PostgreSQL database; see the module docstring."""

    def __init__(self, url: PostgresUrl, tables: Sequence[str]) -> None:
        self.where = str(url)
        self._url = url.url
        self._tables = tables
        try:
            self._conn = psycopg.connect(url.url, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise self._error("cannot be opened", exc, "unreachable") from exc
        try:
            PostgresStore(url.url, pool_size=1).close()  # creates or migrates the schema
        except DatabaseError as exc:
            self._conn.close()
            raise self._error("cannot be opened", exc, "unreadable") from exc

    def __repr__(self) -> str:
        return f"<PostgresDestination {self.where}>"

    def _error(self, what: str, exc: Exception, reason: CopyErrorReason = "failed") -> CopyError:
        detail = scrubbed(str(exc), self._url)
        return CopyError(f"{self.where} {what}: {detail}", side="destination", reason=reason)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            with self._conn.transaction():
                self._conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'")
                # EXCLUSIVE: readers go on, writers wait for the commit, so no service can
                # add a row between the emptiness check and the copy.
                names = sql.SQL(", ").join(map(sql.Identifier, self._tables))
                self._conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(names))
                yield
        except psycopg.errors.LockNotAvailable as exc:
            raise CopyError(
                f"{self.where} is in use: another session kept writing for {LOCK_TIMEOUT_S} s "
                "(a running service?); stop it and copy again; nothing was written",
                side="destination",
                reason="busy",
            ) from exc
        except psycopg.Error as exc:
            raise self._error("failed; nothing was written", exc) from exc

    def counts(self) -> dict[str, int]:
        out = {}
        for table in self._tables:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            out[table] = int(self._conn.execute(query).fetchone()[0])  # type: ignore[index]
        return out

    def columns(self, table: str) -> list[str]:
        query = sql.SQL("SELECT * FROM {} LIMIT 0").format(sql.Identifier(table))
        description = self._conn.execute(query).description or []
        return [d.name for d in description]

    def write(
        self, table: str, columns: Sequence[str], batches: Batches, done: Callable[[int], None]
    ) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with self._conn.cursor() as cursor, cursor.copy(statement) as copy:
            for batch in batches:
                for row in batch:
                    copy.write_row(row)
                done(len(batch))

    def advance_ids(self, table: str, last_id: int) -> None:
        if last_id > 0:  # an untouched identity already starts at 1
            self._conn.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", (table, last_id)
            )

    def close(self) -> None:
        self._conn.close()


class SqliteDestination:
    """A SQLite file, new or an empty service database; see the module docstring."""

    def __init__(self, path: Path, tables: Sequence[str]) -> None:
        self.where = str(path)
        self._tables = tables
        if path.is_file() and path.stat().st_size > 0:
            store_version(path, "destination")  # never turn another program's file into ours
        open_store_file(path, "destination")
        self._conn = sqlite3.connect(path, isolation_level=None, timeout=LOCK_TIMEOUT_S)
        self._conn.execute("PRAGMA foreign_keys = ON")

    def __repr__(self) -> str:
        return f"<SqliteDestination {self.where!r}>"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")  # the write lock, up front
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise CopyError(
                f"{self.where} failed; nothing was written: {exc}", side="destination"
            ) from exc

    def counts(self) -> dict[str, int]:
        return {
            t: int(self._conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])
            for t in self._tables
        }

    def columns(self, table: str) -> list[str]:
        return [d[0] for d in self._conn.execute(f'SELECT * FROM "{table}" LIMIT 0').description]

    def write(
        self, table: str, columns: Sequence[str], batches: Batches, done: Callable[[int], None]
    ) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        statement = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'
        for batch in batches:
            self._conn.executemany(statement, batch)
            done(len(batch))

    def advance_ids(self, table: str, last_id: int) -> None:
        # AUTOINCREMENT keeps the highest id in `sqlite_sequence` (raised by the inserts).
        updated = self._conn.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (last_id, table)
        )
        if updated.rowcount == 0 and last_id > 0:
            self._conn.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, last_id)
            )

    def close(self) -> None:
        self._conn.close()
