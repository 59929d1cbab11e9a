"""`SqlUnit`: the base of the SQL stores' parts (`store/sql/`), which run each method in
the store's unit of work, on a connection of either dialect."""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager

from sigopt_service.store.base import BaseStore
from sigopt_service.store.sql._dialect import SqlConnection


class SqlUnit(BaseStore):
    """Each method of a part runs in `_transaction`, the store's unit of work: it commits on
    success, rolls back on any exception and maps the driver's errors to `DatabaseError`."""

    @abc.abstractmethod
    def _transaction(self, *, write: bool = True) -> AbstractContextManager[SqlConnection]:
        """A transaction on the store's connection (`write`: it may write)."""
