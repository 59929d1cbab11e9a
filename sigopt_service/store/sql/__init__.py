"""The store contract in SQL, written once for SQLite (`store/sqlite/`) and PostgreSQL
(`store/postgres/`): `SqlStore` and its parts.

```
_store.py    SqlStore: experiments, suggestions, observations (and the parts below)
_listing.py  SqlListings      _queue.py  SqlQueue      _tokens.py  SqlTokens
_runs.py     SqlRuns          _updates.py  observation moves
_rows.py     rows <-> models, in-transaction helpers, the experiment lock
_dialect.py  what differs per database; the connection protocol
```
"""

from __future__ import annotations

from sigopt_service.store.sql._dialect import (
    POSTGRESQL,
    SQLITE,
    Dialect,
    SqlConnection,
    SqlCursor,
)
from sigopt_service.store.sql._rows import lock_experiment_in_tx
from sigopt_service.store.sql._store import SqlStore

__all__ = [
    "POSTGRESQL",
    "SQLITE",
    "Dialect",
    "SqlConnection",
    "SqlCursor",
    "SqlStore",
    "lock_experiment_in_tx",
]
