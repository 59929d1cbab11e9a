"""`PostgresStore`: the store contract on a PostgreSQL database that any number of service
processes share.

    store = PostgresStore("postgresql://optimizer@db.internal:5432/sigopt")
    with store.experiment_transaction(7):     # a check and the write it guards, at once
        ...
    store.close()

Durability: every public method runs in one transaction and has committed (with the
server's own durability, `synchronous_commit`) when it returns.

Several processes: each write that changes an experiment's suggestions or observations
first takes the experiment's row lock (`lock_experiment_in_tx`), so such writes of one
experiment run one at a time across processes and every check inside them (a
suggestion observed once, a queued entry served once) sees what the others committed.
A check that spans several store calls, the service's budget check before it stores a
suggestion, runs inside `experiment_transaction`: one transaction on one pinned
connection, holding that lock from the count to the insert. Nothing is cached here
(`is_shared`): the caching store and the engine re-read what they need.

Connection failures (a server restart) surface as `DatabaseError`, which the API answers
with a 5xx that clients retry; the pool drops the broken connection, so the retry gets a
fresh one. Nothing is retried here: whether a failed COMMIT landed is for the caller's
exactly-once checks (a suggestion observed once) to settle, not for a blind re-run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from sigopt_service.errors import DatabaseError
from sigopt_service.store.postgres._connection import (
    CONNECT_TIMEOUT_S,
    PgConnection,
    open_pool,
)
from sigopt_service.store.postgres._schema import migrate_in_tx, schema_version_in_tx
from sigopt_service.store.sql import SqlConnection, SqlStore, lock_experiment_in_tx

#: Connections kept: the store thread uses one at a time; one more covers a unit of work
#: pinned while the pool replaces a broken one.
POOL_SIZE = 4


def redacted(url: str) -> str:
    """`url` without its password, for messages and logs."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable PostgreSQL URL>"
    user = info.get("user")
    where = f"{info.get('host', '')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
    return f"postgresql://{user}@{where}" if user else f"postgresql://{where}"


class PostgresStore(SqlStore):
    """`BaseStore` on a PostgreSQL database; see the module docstring."""

    #: Other processes write the same database: nothing read may be kept for later.
    is_shared = True
    #: Every call is a network round trip: never run on the event loop.
    writes_are_quick = False

    def __init__(self, url: str, *, read_only: bool = False, pool_size: int = POOL_SIZE) -> None:
        self.where = redacted(url)
        self._pinned: PgConnection | None = None
        self._pool: ConnectionPool | None = None
        try:
            # One plain connection first: an unreachable server fails at once with the
            # driver's reason (the pool would retry until its timeout), and the schema is
            # ready before the pool hands out a connection.
            with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as raw:
                if not read_only:
                    with raw.transaction():
                        migrate_in_tx(PgConnection(raw), self.where)
            self._pool = open_pool(url, read_only=read_only, max_size=pool_size)
        except (psycopg.Error, PoolTimeout) as exc:
            raise DatabaseError(f"Cannot open database {self.where}: {exc}") from exc

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else "closed"
        return f"<PostgresStore {self.where} {state}>"

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def schema_version(self) -> int:
        with self._transaction(write=False) as conn:
            return schema_version_in_tx(conn)

    # -- the unit of work -----------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[SqlConnection]:
        """One transaction for a write (reads run as they are: see below); inside
        `experiment_transaction`, a part of its transaction (a savepoint for a write, so a
        write that raises undoes only itself)."""
        if self._pinned is not None:
            with _mapped_errors():
                if write:
                    with self._pinned.raw.transaction():
                        yield self._pinned
                else:
                    yield self._pinned
            return
        with self._connection() as conn, _mapped_errors():
            if write:
                with conn.raw.transaction():
                    yield conn
            else:
                # Under READ COMMITTED every statement takes its own snapshot, in a block
                # or not: a read saves BEGIN's and COMMIT's round trips.
                yield conn

    @contextlib.contextmanager
    def experiment_transaction(self, experiment_id: int) -> Iterator[None]:
        """The enclosed store calls as one transaction on one connection, holding the
        experiment's row lock from the start: what they read is what they commit against,
        across processes. Re-entrant calls join the open one (locking their experiment
        too, should it be another one)."""
        if self._pinned is not None:
            with _mapped_errors():
                lock_experiment_in_tx(self._pinned, experiment_id)  # a no-op if it holds it
            yield
            return
        with self._connection() as conn, _mapped_errors(), conn.raw.transaction():
            lock_experiment_in_tx(conn, experiment_id)
            self._pinned = conn
            # The calls inside skip finding and locking the row again (a round trip each).
            conn.locked_experiment = experiment_id
            try:
                yield
            finally:
                self._pinned = None
                conn.locked_experiment = None

    @contextlib.contextmanager
    def _connection(self) -> Iterator[PgConnection]:
        """A pooled connection, given back after use (the pool drops it if it broke)."""
        if self._pool is None:
            raise DatabaseError("The store is closed")
        try:
            raw = self._pool.getconn()
        except (psycopg.Error, PoolTimeout) as exc:
            raise DatabaseError(f"Database {self.where} unavailable: {exc}") from exc
        try:
            yield PgConnection(raw)
        finally:
            self._pool.putconn(raw)


@contextlib.contextmanager
def _mapped_errors() -> Iterator[None]:
    """psycopg's errors as `DatabaseError`, chained; the store's own errors pass through."""
    try:
        yield
    except psycopg.Error as exc:
        raise DatabaseError(f"Database error: {exc}") from exc
