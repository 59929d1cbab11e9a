"""`SqliteStore`: the store contract on one SQLite file (WAL), durable across kill -9.

Private modules: `_store.py` (the store), `_connection.py` (opening the file, the unit of
work), `_schema.py` (tables and migrations). The SQL is shared with PostgreSQL
(`store/sql/`).
"""

from __future__ import annotations

from sigopt_service.store.sqlite._schema import MIGRATIONS, SCHEMA_VERSION
from sigopt_service.store.sqlite._store import CHECKPOINT_EVERY_WRITES, SqliteStore

__all__ = ["CHECKPOINT_EVERY_WRITES", "MIGRATIONS", "SCHEMA_VERSION", "SqliteStore"]
