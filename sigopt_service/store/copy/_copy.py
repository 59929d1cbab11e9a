"""`copy_database`: every row of a SQLite service database into an empty PostgreSQL
database (or SQLite file), ids kept, in one transaction; see the package docstring."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from sigopt_service.config import PostgresUrl
from sigopt_service.store.copy._destinations import (
    BATCH_ROWS,
    Destination,
    PostgresDestination,
    SqliteDestination,
)
from sigopt_service.store.copy._errors import CopyError
from sigopt_service.store.copy._source import SqliteSource
from sigopt_service.store.postgres import TABLES
from sigopt_service.store.sqlite import SCHEMA_VERSION

log = structlog.get_logger()

#: Called as rows land: `(table, rows of it copied so far, rows it has)`; once with 0
#: before a table's first row, so an empty table is reported too.
CopyProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CopyReport:
    """What a finished (committed) copy did."""

    source: str
    destination: str
    #: Rows copied per table, in copy order (parents first); equal to both sides' counts.
    rows: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    #: The source's schema version before this copy migrated it; None if it was newest.
    migrated_from: int | None = None

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_s(self) -> float:
        return self.total_rows / self.elapsed_s if self.elapsed_s > 0 else 0.0


def copy_database(
    source: Path,
    destination: Path | PostgresUrl,
    *,
    progress: CopyProgress | None = None,
    batch_rows: int = BATCH_ROWS,
) -> CopyReport:
    """Copy the service database `source` (a SQLite file, migrated to the newest schema
    first) into `destination`, which must hold no rows; `CopyError` otherwise, and for
    every failure, with nothing written (the destination's empty schema aside)."""
    started = time.monotonic()
    if isinstance(destination, Path) and _same_file(source, destination):
        raise CopyError(
            f"{destination} is the source itself", side="destination", reason="same_database"
        )
    reader = SqliteSource(source)  # checked before the destination is touched at all
    writer: Destination
    if isinstance(destination, PostgresUrl):
        writer = PostgresDestination(destination, TABLES)
    else:
        writer = SqliteDestination(destination, TABLES)
    try:
        with reader, writer.transaction():
            _refuse_rows(writer)
            rows = {
                table: _copy_table(reader, writer, table, batch_rows, progress) for table in TABLES
            }
            _verify(writer, rows)
            for table in TABLES:
                writer.advance_ids(table, reader.last_id(table))
    finally:
        writer.close()
    report = CopyReport(
        source=str(source),
        destination=writer.where,
        rows=rows,
        elapsed_s=time.monotonic() - started,
        migrated_from=reader.version_before if reader.version_before < SCHEMA_VERSION else None,
    )
    log.info(
        "database_copied",
        source=report.source,
        destination=report.destination,
        rows=report.total_rows,
        elapsed_s=round(report.elapsed_s, 3),
    )
    return report


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _refuse_rows(writer: Destination) -> None:
    held = {table: n for table, n in writer.counts().items() if n}
    if held:
        listed = ", ".join(f"{table}: {n}" for table, n in held.items())
        raise CopyError(
            f"{writer.where} is not empty ({listed}); nothing was written: copy into a new, "
            "empty database (for PostgreSQL: `createdb NAME`, then give its URL)",
            side="destination",
            reason="not_empty",
        )


def _copy_table(
    reader: SqliteSource,
    writer: Destination,
    table: str,
    batch_rows: int,
    progress: CopyProgress | None,
) -> int:
    columns = reader.columns(table)
    if set(columns) != set(writer.columns(table)):
        raise CopyError(
            f"{writer.where}: table {table} has columns {sorted(writer.columns(table))}, "
            f"the source's {sorted(columns)}",
            side="destination",
        )
    total = reader.count(table)
    copied = 0

    def done(n: int) -> None:
        nonlocal copied
        copied += n
        if progress is not None:
            progress(table, copied, total)

    done(0)
    writer.write(table, columns, reader.batches(table, columns, batch_rows), done)
    if copied != total:
        raise CopyError(f"{reader.path}: read {copied} of {total} {table}", side="source")
    return copied


def _verify(writer: Destination, rows: dict[str, int]) -> None:
    """Each table holds what was copied into it, before the commit makes it stay."""
    counts = writer.counts()
    wrong = {t: (n, counts[t]) for t, n in rows.items() if counts[t] != n}
    if wrong:
        listed = ", ".join(f"{t}: copied {n}, holds {m}" for t, (n, m) in wrong.items())
        raise CopyError(
            f"{writer.where} does not hold what was copied ({listed})", side="destination"
        )
