"""The schema of `SqliteStore`'s file and its migrations.

The version lives in `PRAGMA user_version`; `MIGRATIONS[i]` brings version `i` to `i + 1`
and pending ones run, in order and in one transaction, when the store opens. A database
written by newer code (a higher version) is refused with `DatabaseError`.
"""

from __future__ import annotations

from pathlib import Path

from sigopt_service.errors import DatabaseError
from sigopt_service.store.sql import SqlConnection

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
    # v3 (issue 15): SigOpt's `development` flag, and queued suggestions (sigopt-server's
    # `suggestions_queued`). `deleted` marks an entry gone, deleted or served; a served
    # one names the suggestion it became in `suggestion_id`, in the same transaction.
    (
        "ALTER TABLE experiments ADD COLUMN development INTEGER NOT NULL DEFAULT 0",
        """
        CREATE TABLE queued_suggestions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            experiment_id INTEGER NOT NULL REFERENCES experiments (id),
            assignments TEXT NOT NULL,
            created INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            suggestion_id INTEGER REFERENCES suggestions (id)
        )
        """,
        "CREATE INDEX queued_suggestions_by_experiment "
        "ON queued_suggestions (experiment_id, deleted)",
    ),
    # Issue 14 item 4: API tokens, each the SHA-256 of its secret (never the secret);
    # `revoked` is when it was revoked, NULL while active. The service looks secrets up
    # in memory, so no index but the hash's own uniqueness.
    (
        """
        CREATE TABLE tokens (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            secret_hash TEXT NOT NULL UNIQUE,
            name TEXT,
            permissions TEXT NOT NULL,
            experiment_id INTEGER REFERENCES experiments (id),
            expires INTEGER,
            created INTEGER NOT NULL,
            last_used INTEGER,
            revoked INTEGER
        )
        """,
    ),
    # Issue 14 items 1 and 2: SigOpt's AI module. `runs_only` marks an AI experiment;
    # projects are keyed by the id their creator chose (`reference_id`); a run's mergeable
    # fields live in one JSON `document`, as sigopt-server's `training_runs.data`; a run
    # names at most one observation (it became that observation).
    (
        "ALTER TABLE experiments ADD COLUMN runs_only INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX experiments_by_project ON experiments (project)",
        """
        CREATE TABLE projects (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            reference_id TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            metadata TEXT,
            created INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0
        )
        """,
        """
        CREATE TABLE training_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            project TEXT,
            experiment_id INTEGER REFERENCES experiments (id),
            suggestion_id INTEGER REFERENCES suggestions (id),
            observation_id INTEGER UNIQUE REFERENCES observations (id),
            state TEXT NOT NULL,
            document TEXT NOT NULL,
            checkpoint_count INTEGER NOT NULL DEFAULT 0,
            created INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            completed INTEGER,
            deleted INTEGER NOT NULL DEFAULT 0
        )
        """,
        "CREATE INDEX training_runs_by_experiment ON training_runs (experiment_id, deleted)",
        "CREATE INDEX training_runs_by_project ON training_runs (project)",
        """
        CREATE TABLE checkpoints (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            training_run_id INTEGER NOT NULL REFERENCES training_runs (id),
            "values" TEXT NOT NULL,
            metadata TEXT,
            created INTEGER NOT NULL
        )
        """,
        "CREATE INDEX checkpoints_by_run ON checkpoints (training_run_id)",
    ),
    # Issue 15 item 5: multitask. An experiment's `tasks` (JSON, NULL when it is not
    # multitask) and the task (JSON `{object, name, cost}`) of each suggestion, queued
    # suggestion and observation (an observation's copied from its suggestion).
    (
        "ALTER TABLE experiments ADD COLUMN tasks TEXT",
        "ALTER TABLE suggestions ADD COLUMN task TEXT",
        "ALTER TABLE queued_suggestions ADD COLUMN task TEXT",
        "ALTER TABLE observations ADD COLUMN task TEXT",
    ),
    # Issue 17: how many times the experiment's history was rewritten (a suggestion or
    # observation deleted, an observation updated or moved, runs deleted, the experiment
    # updated), bumped in the rewrite's own transaction. Service processes sharing a
    # database compare it to know their optimizer's study must be rebuilt, not caught up.
    ("ALTER TABLE experiments ADD COLUMN rewrites INTEGER NOT NULL DEFAULT 0",),
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate_in_tx(conn: SqlConnection, path: Path) -> None:
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
