"""The schema of `SqliteStore`'s file and its migrations.

The version lives in `PRAGMA user_version`; `MIGRATIONS[i]` brings version `i` to `i + 1`
and pending ones run, in order and in one transaction, when the store opens. A database
written by newer code (a higher version) is refused with `DatabaseError`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sigopt_service.errors import DatabaseError

#: Ordered migrations; entry `i` upgrades a database at version `i` to version `i + 1`.
#: Append only: never edit an entry that has shipped.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE experiments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            parameters TEXT NOT NULL,
            metrics TEXT NOT NULL,
            observation_budget INTEGER,
            parallel_bandwidth INTEGER,
            num_solutions INTEGER,
            conditionals TEXT NOT NULL,
            linear_constraints TEXT NOT NULL,
            metadata TEXT,
            project TEXT,
            state TEXT NOT NULL,
            created INTEGER NOT NULL,
            updated INTEGER NOT NULL
        )
        """,
        "CREATE INDEX experiments_by_state ON experiments (state)",
        """
        CREATE TABLE suggestions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            experiment_id INTEGER NOT NULL REFERENCES experiments (id),
            assignments TEXT NOT NULL,
            metadata TEXT,
            created INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0
        )
        """,
        # (experiment_id, deleted) ends in the rowid, so non-deleted rows come in id order.
        "CREATE INDEX suggestions_by_experiment ON suggestions (experiment_id, deleted)",
        """
        CREATE TABLE observations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            experiment_id INTEGER NOT NULL REFERENCES experiments (id),
            suggestion_id INTEGER REFERENCES suggestions (id),
            assignments TEXT NOT NULL,
            "values" TEXT NOT NULL,
            failed INTEGER NOT NULL,
            metadata TEXT,
            created INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0
        )
        """,
        "CREATE INDEX observations_by_experiment ON observations (experiment_id, deleted)",
        # The derived suggestion state probes this index once per suggestion.
        "CREATE INDEX observations_by_suggestion ON observations (suggestion_id)",
    ),
    # v2: `closed` caches the derived state (an observation references the suggestion),
    # set in the same transaction as that observation, so counting open suggestions is
    # an index range instead of one probe per suggestion (the budget check runs it on
    # every suggest). Deleting the observation does not clear it; moving the observation
    # away recomputes it (`_updates.py`).
    (
        "ALTER TABLE suggestions ADD COLUMN closed INTEGER NOT NULL DEFAULT 0",
        "UPDATE suggestions SET closed = 1 WHERE EXISTS "
        "(SELECT 1 FROM observations AS o WHERE o.suggestion_id = suggestions.id)",
        "DROP INDEX suggestions_by_experiment",
        "CREATE INDEX suggestions_by_experiment ON suggestions (experiment_id, deleted, closed)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate_in_tx(conn: sqlite3.Connection, path: Path) -> None:
    """Run the pending migrations; the caller's transaction makes them all or nothing."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"Database {path} has schema version {version}, newer than "
            f"{SCHEMA_VERSION}, the newest this code knows; upgrade the service"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[target - 1]:
            conn.execute(statement)
        # PRAGMA takes no bound parameters; `target` is an int from this module.
        conn.execute(f"PRAGMA user_version = {int(target)}")
