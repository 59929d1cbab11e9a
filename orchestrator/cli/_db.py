"""`orchestrator db copy SRC [DST]`: a service's SQLite database copied, ids and all, into
an empty PostgreSQL database (or another SQLite file), so the history of a run on one
machine moves to a team's service.

    orchestrator db copy runs/service.db postgresql://optimizer@db.internal/sigopt
    ORCHESTRATOR_DB=postgresql://... orchestrator db copy runs/service.db

SRC and DST are what `orchestrator serve --db` takes (a path, `sqlite:///...`,
`postgresql://...`); DST defaults to `$ORCHESTRATOR_DB`, which keeps a URL with a password
out of the process list. The work is the service's own (`sigopt_service.store.copy`),
run in this process as `orchestrator serve` runs the service. Exit 0 with a table of the
rows copied; 2 when the arguments name the wrong thing (no such SRC, SRC not a service
database, a bad URL); 1 when a database fails or DST is not empty. Either way the error is
one line saying which database and why, never a password, and DST is left as it was.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Column, Table

from orchestrator.cli._common import EXIT_CONFIG, EXIT_ERROR, print_table
from sigopt_service.cli import DB_ENVIRONMENT_VARIABLE
from sigopt_service.config import PostgresUrl, database_location
from sigopt_service.store.copy import CopyError, CopyProgress, CopyReport, copy_database

#: Ctrl-C, as `orchestrator run` exits on a signal.
EXIT_STOPPED = 130
#: Refusals about the arguments themselves: usage errors (exit 2), not failures.
USAGE_REASONS = frozenset({"missing", "not_a_store", "newer_schema", "same_database"})


def add_db_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser(
        "db",
        help="move a service database (db copy SRC DST)",
        description="Work on the service's database files and servers.",
    )
    commands = db.add_subparsers(
        dest="db_command", required=True, metavar="{copy}", help="what to do: copy"
    )
    copy = commands.add_parser(
        "copy",
        help="copy a SQLite service database into an empty PostgreSQL database",
        description="Copy every experiment, suggestion, observation, token, project and "
        "training run of a SQLite service database into an empty database, ids kept. "
        "Stop the service on SRC first: what it writes after the copy starts stays behind. "
        "An older SRC is migrated in place to the newest schema first.",
    )
    copy.add_argument(
        "source",
        metavar="SRC",
        help="the SQLite database (a path or sqlite:///path), e.g. runs/service.db",
    )
    copy.add_argument(
        "destination",
        metavar="DST",
        nargs="?",
        default=None,
        help="an empty PostgreSQL database (postgresql://user@host:5432/name; the password "
        f"from PGPASSWORD or ~/.pgpass) or a new SQLite file. Default: ${DB_ENVIRONMENT_VARIABLE}",
    )


class _Usage(Exception):
    """Arguments that name no database: exit 2."""


def _location(raw: str, name: str) -> Path | PostgresUrl:
    try:
        return database_location(raw)
    except ValueError as exc:
        raise _Usage(f"{name}: {_without_password(str(exc), raw)}") from None


def _without_password(text: str, raw: str) -> str:
    try:
        password = urlsplit(raw).password
    except ValueError:
        password = None
    return text.replace(password, "***") if password else text


def db(args: argparse.Namespace, console: Console) -> int:
    try:
        source, destination = _arguments(args)
    except _Usage as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        return EXIT_CONFIG
    try:
        with _progress(console) as progress:
            report = copy_database(source, destination, progress=progress)
    except CopyError as exc:
        console.print(f"[red]error:[/] {escape(exc.message)}", soft_wrap=True)
        return EXIT_CONFIG if exc.reason in USAGE_REASONS else EXIT_ERROR
    except KeyboardInterrupt:
        # The destination's transaction was rolled back on the way out.
        console.print("stopped: nothing was copied", highlight=False)
        return EXIT_STOPPED
    _print_report(console, report)
    return 0


def _arguments(args: argparse.Namespace) -> tuple[Path, Path | PostgresUrl]:
    source = _location(args.source, "SRC")
    if isinstance(source, PostgresUrl):
        raise _Usage(f"SRC {source} is a PostgreSQL database: SRC must be a SQLite file")
    raw = args.destination or os.environ.get(DB_ENVIRONMENT_VARIABLE)
    if not raw:
        raise _Usage(f"give DST, the database to copy into (or set ${DB_ENVIRONMENT_VARIABLE})")
    return source, _location(raw, "DST")


@contextmanager
def _progress(console: Console) -> Iterator[CopyProgress | None]:
    """A bar per table on a terminal (gone once done: the summary follows); nothing off one."""
    if not console.is_terminal:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as bars:
        tasks: dict[str, TaskID] = {}

        def report(table: str, copied: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bars.add_task(table, total=total)
            bars.update(tasks[table], completed=copied)

        yield report


def _print_report(console: Console, report: CopyReport) -> None:
    if report.migrated_from is not None:
        console.print(
            f"{escape(report.source)} was at schema version {report.migrated_from}: "
            "migrated in place to the newest first",
            highlight=False,
            soft_wrap=True,
        )
    table = Table("table", Column("rows", justify="right"))
    for name, rows in report.rows.items():
        table.add_row(name, f"{rows:,}")
    table.add_section()
    table.add_row("total", f"{report.total_rows:,}", style="bold")
    print_table(console, table)
    console.print(
        f"copied {report.total_rows:,} rows from {escape(report.source)} to "
        f"{escape(report.destination)} in {report.elapsed_s:.2f} s "
        f"({report.rows_per_s:,.0f} rows/s); ids kept, new ones continue past them",
        highlight=False,
        soft_wrap=True,
    )
