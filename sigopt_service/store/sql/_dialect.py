"""What differs between the SQL dialects the stores speak (SQLite, PostgreSQL), and the
connection the shared SQL of `store/sql/` runs on.

The SQL of this package is written once, in SQLite's spelling with `?` placeholders; the
PostgreSQL connection (`store/postgres/_connection.py`) turns `?` into `%s`. What cannot
be written once lives here: substring search, JSON paths of the sorted observation
listing, and the row lock that serializes the writes of one experiment across processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class SqlCursor(Protocol):
    """The part of a DB-API cursor the stores use."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


@dataclass(frozen=True)
class Dialect:
    """The SQL fragments that differ per database."""

    name: str
    #: `f(haystack, needle)`: the 1-based position of needle in haystack, 0 when absent.
    find: str
    #: Locks an experiment's row (one `?`: its id) for the rest of the transaction, so the
    #: writes that change its suggestions and observations run one at a time across
    #: processes; None where the transaction already holds the database's only write lock.
    lock_experiment: str | None
    #: The sort keys of the observation listing, on an observation row `o` (NULL where
    #: it has none): its task's cost; a parameter's value (one `?`: the name); a metric's
    #: `{field}` (`value` or `value_stddev`; one `?`: the metric's name).
    task_cost: str
    parameter_value: str
    metric_field: str
    #: A missing sort key compared as this literal (after `key IS NULL` put it last).
    missing_key: str


class SqlConnection(Protocol):
    """A connection whose `execute` takes `?` placeholders: `SqlConnection` (through
    `store/sqlite/_connection.SqliteConnection`) or the PostgreSQL adapter."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def locked_experiment(self) -> int | None:
        """The experiment whose row this connection's open transaction holds locked
        (`PostgresStore.experiment_transaction`): known to exist, and locked already."""

    @property
    def IntegrityError(self) -> type[Exception]:
        """DB-API's optional extension: the driver's integrity error (a unique key)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> SqlCursor: ...

    def insert(self, sql: str, parameters: Any, /) -> int:
        """Run one INSERT (written without RETURNING) and give the new row's id."""


SQLITE = Dialect(
    name="sqlite",
    find="instr",
    lock_experiment=None,
    task_cost="json_extract(o.task, '$.cost')",
    # json_each, not a JSON path: any name works, quotes and dots included.
    parameter_value="(SELECT a.value FROM json_each(o.assignments) AS a WHERE a.key = ?)",
    metric_field=(
        "(SELECT json_extract(e.value, '$.{field}') FROM json_each(o.\"values\") AS e "
        "WHERE json_extract(e.value, '$.name') IS ?)"
    ),
    missing_key="0",
)

POSTGRESQL = Dialect(
    name="postgresql",
    find="strpos",
    # NO KEY UPDATE: it conflicts with itself, not with the KEY SHARE lock a foreign key
    # check takes, so inserting a token or a run that names the experiment never waits.
    lock_experiment="SELECT 1 FROM experiments WHERE id = ? FOR NO KEY UPDATE",
    # NULLIF: a JSON null is SQL NULL, as SQLite's json_extract gives it.
    task_cost="NULLIF(o.task::jsonb -> 'cost', 'null'::jsonb)",
    parameter_value="NULLIF(o.assignments::jsonb -> ?::text, 'null'::jsonb)",
    metric_field=(
        "(SELECT NULLIF(e.value -> '{field}', 'null'::jsonb) "
        'FROM jsonb_array_elements(o."values"::jsonb) AS e '
        "WHERE e.value ->> 'name' IS NOT DISTINCT FROM ?::text)"
    ),
    missing_key="'0'::jsonb",
)
