"""The PostgreSQL side of the shared SQL: `PgConnection`, a psycopg connection that takes
the `?` placeholders `store/sql/` is written with, and the pool it comes from.

Why psycopg 3's synchronous API, though psycopg is also an async driver: the store
contract is synchronous and every call runs on the service's one store thread (with the
engine, which reads the store while it proposes), so an async driver would only add a
loop hop per query. The pool (`psycopg_pool.ConnectionPool`) gives that thread a healthy
connection after a server restart and lets a unit of work (`PostgresStore.
experiment_transaction`) pin one connection while it runs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from sigopt_service.errors import UnstorableText
from sigopt_service.store.sql import POSTGRESQL, Dialect, SqlCursor

#: Seconds: opening a connection, waiting for one from the pool, and the longest any one
#: statement (a lock wait included) may run before the request fails with a 5xx that the
#: client retries. Explicit, so a dead server or a stuck lock never hangs a request.
CONNECT_TIMEOUT_S = 5
POOL_TIMEOUT_S = 10.0
STATEMENT_TIMEOUT_MS = 30_000


@functools.lru_cache(maxsize=1024)
def pyformat(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled). The SQL comes from
    `store/sql/` only, which puts no `?` inside string literals."""
    return sql.replace("%", "%%").replace("?", "%s")


def _adapted(parameters: Sequence[Any]) -> tuple[Any, ...]:
    # The schema keeps SQLite's 0/1 integers for flags; psycopg would send a bool as a
    # boolean, which PostgreSQL does not cast to an integer column. A NUL in a text
    # (a name) is refused here as bad input, not left to fail as a database error (5xx).
    adapted = tuple(int(p) if isinstance(p, bool) else p for p in parameters)
    if any(isinstance(p, str) and "\x00" in p for p in adapted):
        raise UnstorableText()
    return adapted


class PgConnection:
    """A pooled psycopg connection seen through `SqlConnection` (`store/sql/_dialect.py`)."""

    dialect: Dialect = POSTGRESQL
    IntegrityError: type[Exception] = psycopg.IntegrityError

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        self.locked_experiment: int | None = None

    def __repr__(self) -> str:
        return f"<PgConnection {self.raw.info.host}:{self.raw.info.port}>"

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> SqlCursor:
        return self.raw.execute(pyformat(sql), _adapted(parameters))

    def insert(self, sql: str, parameters: Sequence[Any], /) -> int:
        return int(self.execute(f"{sql} RETURNING id", parameters).fetchone()[0])


def open_pool(url: str, *, read_only: bool, max_size: int) -> ConnectionPool:
    """A pool of autocommit connections (every transaction is an explicit block) to `url`,
    opened and checked: `psycopg.OperationalError` (through `PoolTimeout`) if the server
    cannot be reached within `POOL_TIMEOUT_S`."""
    options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
    if read_only:
        options += " -c default_transaction_read_only=on"
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        open=False,
        timeout=POOL_TIMEOUT_S,
        kwargs={
            "autocommit": True,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "options": options,
            "application_name": "sigopt_service",
        },
        name="sigopt_service",
    )
    pool.open(wait=True, timeout=POOL_TIMEOUT_S)
    return pool
