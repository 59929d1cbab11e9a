"""The service's durable state: the store contract and its implementations.

```
base.py     BaseStore (the contract, in its docstring), NewExperiment, NewObservation, Page
memory.py   InMemoryStore: dicts, for tests, benchmarks and a service without --db
sqlite/     SqliteStore: one SQLite file in WAL mode
caching.py  CachingStore(inner): the hot path's reads from memory, itself a store
thread.py   StoreThread: the one thread every store and engine call runs on
```
The stores raise only `StoreError`s (`sigopt_service.errors`); HTTP is not their business.
"""

from __future__ import annotations

from sigopt_service.store._listing import EXPERIMENT_SORTS, ExperimentListing, ExperimentSort
from sigopt_service.store.base import (
    EXPERIMENT_UPDATABLE,
    OBSERVATION_UPDATABLE,
    BaseStore,
    ExperimentStateFilter,
    NewExperiment,
    NewObservation,
    Page,
)
from sigopt_service.store.caching import EXPERIMENT_CACHE_SIZE, CachingStore
from sigopt_service.store.memory import InMemoryStore
from sigopt_service.store.sqlite import SqliteStore
from sigopt_service.store.thread import StoreThread, StoreThreadStopped

__all__ = [
    "EXPERIMENT_CACHE_SIZE",
    "EXPERIMENT_SORTS",
    "EXPERIMENT_UPDATABLE",
    "OBSERVATION_UPDATABLE",
    "BaseStore",
    "CachingStore",
    "ExperimentListing",
    "ExperimentSort",
    "ExperimentStateFilter",
    "InMemoryStore",
    "NewExperiment",
    "NewObservation",
    "Page",
    "SqliteStore",
    "StoreThread",
    "StoreThreadStopped",
]
