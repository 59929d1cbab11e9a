"""`PostgresStore`: the store contract on a PostgreSQL database shared by several service
processes (`orchestrator serve --db postgresql://...`).

Private modules: `_store.py` (the store, its unit of work and the experiment lock),
`_connection.py` (the psycopg pool and the `?` placeholder adapter), `_schema.py` (tables
and migrations). The SQL is shared with SQLite (`store/sql/`).
"""

from __future__ import annotations

from sigopt_service.store.postgres._schema import SCHEMA_VERSION, TABLES
from sigopt_service.store.postgres._store import PostgresStore, redacted

__all__ = ["SCHEMA_VERSION", "TABLES", "PostgresStore", "redacted"]
