"""The service's durable state: the store contract and its implementations.

```
base.py     BaseStore (the contract, in its docstring), NewExperiment, NewObservation, Page
memory.py   InMemoryStore: dicts, for tests, benchmarks and a service without --db
sqlite/     SqliteStore: one SQLite file in WAL mode
caching.py  CachingStore(inner): the hot path's reads from memory, itself a store
            (a DelegatingStore: what it does not cache goes straight to `inner`)
thread.py   StoreThread: the one thread every store and engine call runs on
tokens.py   TokenStore (the API tokens' part of the contract), NewToken, StoredToken
runs.py     RunStore (projects, training runs, checkpoints: the AI module's part of the
            contract), NewProject, NewTrainingRun; `_run_listing.py` filters and orders runs
```
The stores raise only `StoreError`s (`sigopt_service.errors`); HTTP is not their business.
"""

from __future__ import annotations

from sigopt_service.store._listing import (
    EXPERIMENT_SORTS,
    NAMED_OBSERVATION_SORTS,
    ExperimentListing,
    ExperimentSort,
    ObservationOrder,
    ObservationSortField,
)
from sigopt_service.store._run_listing import (
    OPERATORS as RUN_FILTER_OPERATORS,
)
from sigopt_service.store._run_listing import (
    RunFilter,
    RunFilterOperator,
    RunListing,
    field_kind,
)
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
from sigopt_service.store.runs import (
    PROJECT_UPDATABLE,
    RUN_UPDATABLE,
    NewProject,
    NewTrainingRun,
    RunCounts,
    RunStore,
)
from sigopt_service.store.sqlite import SqliteStore
from sigopt_service.store.thread import StoreThread, StoreThreadStopped
from sigopt_service.store.tokens import (
    TOKEN_UPDATABLE,
    NewToken,
    StoredToken,
    TokenPermission,
    TokenStore,
)

__all__ = [
    "EXPERIMENT_CACHE_SIZE",
    "EXPERIMENT_SORTS",
    "EXPERIMENT_UPDATABLE",
    "NAMED_OBSERVATION_SORTS",
    "OBSERVATION_UPDATABLE",
    "PROJECT_UPDATABLE",
    "RUN_FILTER_OPERATORS",
    "RUN_UPDATABLE",
    "TOKEN_UPDATABLE",
    "BaseStore",
    "CachingStore",
    "ExperimentListing",
    "ExperimentSort",
    "ExperimentStateFilter",
    "InMemoryStore",
    "NewExperiment",
    "NewObservation",
    "NewProject",
    "NewToken",
    "NewTrainingRun",
    "ObservationOrder",
    "ObservationSortField",
    "Page",
    "RunCounts",
    "RunFilter",
    "RunFilterOperator",
    "RunListing",
    "RunStore",
    "SqliteStore",
    "StoreThread",
    "StoreThreadStopped",
    "StoredToken",
    "TokenPermission",
    "TokenStore",
    "field_kind",
]
