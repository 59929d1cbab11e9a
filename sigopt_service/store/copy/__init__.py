"""Moving a service database: `copy_database(src, dst)`, what `orchestrator db copy SRC
DST` runs, so a user who started with a SQLite file on one machine takes their history to
a team's PostgreSQL service.

    report = copy_database(Path("runs/service.db"), PostgresUrl(url="postgresql://..."))
    report.rows        # {"experiments": 3, "suggestions": 240, "observations": 236, ...}

- The source is a SQLite service database at any schema version: checked read-only
  first (another program's file is refused, not converted), then migrated in place to
  the newest version by `SqliteStore`, then read in one snapshot.
- The destination is a PostgreSQL URL or a SQLite path. Its store creates or migrates
  its schema; then one transaction locks its tables, refuses if any table holds a row,
  inserts every table parents first with the ids kept (scripts and the coordinator's
  resume state name experiments and suggestions by id), checks each table's count, moves
  each id sequence past the highest id the source ever gave, and commits. Any failure
  rolls it all back.

Private modules: `_copy.py` (the steps and the report), `_source.py` (the SQLite source),
`_destinations.py` (PostgreSQL by COPY, SQLite by executemany), `_errors.py` (`CopyError`).
"""

from __future__ import annotations

from sigopt_service.store.copy._copy import CopyProgress, CopyReport, copy_database
from sigopt_service.store.copy._errors import CopyError, CopyErrorReason

__all__ = ["CopyError", "CopyErrorReason", "CopyProgress", "CopyReport", "copy_database"]
