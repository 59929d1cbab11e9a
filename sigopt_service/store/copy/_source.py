"""The SQLite side of a copy: checking that a file is a service database (before anything
opens it for writing), bringing it to the newest schema, and reading it.

The checks run on a read-only connection first because `SqliteStore` creates its tables
in whatever file it is given: a wrong path (another program's database, an empty file)
must be refused, not turned into a service database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sigopt_service.errors import DatabaseError
from sigopt_service.store.copy._errors import CopyError, Side
from sigopt_service.store.sqlite import SCHEMA_VERSION, SqliteStore

#: The first bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"


def _read_only(path: Path) -> sqlite3.Connection:
    # `mode=ro`: a check must not create the file, nor change it.
    return sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)


def store_version(path: Path, side: Side) -> int:
    """The schema version of the service database at `path`; `CopyError` (reason
    `not_a_store`) for a file that is not one, `newer_schema` for one this code cannot
    read."""
    with path.open("rb") as head:
        if head.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise CopyError(f"{path} is not a SQLite database", side=side, reason="not_a_store")
    try:
        conn = _read_only(path)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            has_experiments = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'experiments'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise CopyError(f"{path} cannot be read: {exc}", side=side, reason="unreadable") from exc
    if version > SCHEMA_VERSION:
        raise CopyError(
            f"{path} has schema version {version}, newer than {SCHEMA_VERSION}, the newest "
            "this orchestrator knows: upgrade it",
            side=side,
            reason="newer_schema",
        )
    if version < 1 or not has_experiments:
        raise CopyError(
            f"{path} is a SQLite database but not a service database (no experiments "
            "table at a known schema version)",
            side=side,
            reason="not_a_store",
        )
    return version


def open_store_file(path: Path, side: Side) -> None:
    """Create or migrate the service schema in `path` (`SqliteStore` does), then close it."""
    try:
        SqliteStore(path).close()
    except DatabaseError as exc:
        # The driver's reason alone: the store's message names the file again.
        why = exc.__cause__ if isinstance(exc.__cause__, sqlite3.Error) else exc.message
        raise CopyError(f"{path} cannot be opened: {why}", side=side, reason="unreadable") from exc


class SqliteSource:
    """A checked, migrated service database, read in one snapshot (a read transaction
    from `__enter__` to `__exit__`), so a service still writing it cannot tear a copy."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise CopyError(f"{path} does not exist", side="source", reason="missing")
        if not path.is_file():
            raise CopyError(f"{path} is not a file", side="source", reason="not_a_store")
        self.path = path
        self.version_before = store_version(path, "source")
        open_store_file(path, "source")  # brings an older file to the newest schema
        self._conn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"<SqliteSource {str(self.path)!r} v{self.version_before}>"

    def __enter__(self) -> SqliteSource:
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._conn.execute("BEGIN")
            # A deferred BEGIN takes its snapshot at the first read: read now.
            self._conn.execute("SELECT count(*) FROM experiments").fetchone()
        except sqlite3.Error as exc:
            self.__exit__()
            raise CopyError(f"{self.path} cannot be read: {exc}", side="source") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        if self._conn is None:
            raise RuntimeError("read a SqliteSource inside `with`")
        try:
            return self._conn.execute(sql, parameters)
        except sqlite3.Error as exc:
            raise CopyError(f"{self.path} cannot be read: {exc}", side="source") from exc

    def columns(self, table: str) -> list[str]:
        cursor = self._execute(f'SELECT * FROM "{table}" LIMIT 0')
        return [d[0] for d in cursor.description]

    def count(self, table: str) -> int:
        return int(self._execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])

    def last_id(self, table: str) -> int:
        """The highest id the table ever gave, deleted rows included (AUTOINCREMENT's
        `sqlite_sequence`), so the copy never hands out an id the source already used."""
        highest = self._execute(f'SELECT coalesce(max(id), 0) FROM "{table}"').fetchone()[0]
        row = self._execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
        return max(int(highest), int(row[0]) if row is not None else 0)

    def batches(self, table: str, columns: Sequence[str], size: int) -> Iterator[list[Any]]:
        """The table's rows in id order (parents come before their children within a
        table too), `size` at a time, as tuples in `columns` order."""
        quoted = ", ".join(f'"{c}"' for c in columns)
        cursor = self._execute(f'SELECT {quoted} FROM "{table}" ORDER BY id')
        while True:
            try:
                batch = cursor.fetchmany(size)
            except sqlite3.Error as exc:
                raise CopyError(f"{self.path} cannot be read: {exc}", side="source") from exc
            if not batch:
                return
            yield batch
