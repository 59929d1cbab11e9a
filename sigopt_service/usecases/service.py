"""`OptimizationService`: every use case of the service, as one async object.

```python
service = OptimizationService.open(config)       # or OptimizationService(config, store)
service.start()
experiment = await service.create_experiment(body)
suggestion = await service.suggest(int(experiment.id), {})
observed = await service.observe(int(experiment.id), {"suggestion": ..., "value": 1.0})
await service.aclose()                            # drains the store thread, closes the store
```
Inputs are parsed request data (ids, JSON bodies as dicts, query values); each method
validates its body, does all of its store and engine work in one call on the store thread
(one hop, one transaction order; `_calls.py`) and returns models. It raises `ApiError`
(validation, the budget) and the store's `StoreError`s; the HTTP layer maps those once.
The store is wrapped in a `CachingStore`, so caches are right by construction, and the
engine hears of every write in one place (`_core.Core`).
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.to_thread

# Module imports, not `from sigopt_service.usecases import ...`: that would run the
# package's __init__, which imports this module.
import sigopt_service.usecases._analysis as _analysis
import sigopt_service.usecases._experiments as _experiments
import sigopt_service.usecases._importances as _importances
import sigopt_service.usecases._listing as _listing
import sigopt_service.usecases._observations as _observations
import sigopt_service.usecases._queued as _queued
import sigopt_service.usecases._stopping as _stopping
import sigopt_service.usecases._suggestions as _suggestions
from sigopt_service.config import PostgresUrl, ServiceConfig
from sigopt_service.engine import Engine
from sigopt_service.errors import DatabaseError, InvalidRequest
from sigopt_service.models import Experiment, Observation, QueuedSuggestion, Suggestion
from sigopt_service.store import (
    BaseStore,
    CachingStore,
    ExperimentListing,
    ExperimentStateFilter,
    InMemoryStore,
    ObservationOrder,
    Page,
    SqliteStore,
)
from sigopt_service.usecases._analysis import ExperimentOverview, History, HistoryUpdate
from sigopt_service.usecases._calls import StoreCalls
from sigopt_service.usecases._core import Core
from sigopt_service.usecases._importances import MetricImportance
from sigopt_service.usecases._observations import Observed
from sigopt_service.usecases._tokens import TokenRegistry
from sigopt_service.usecases.ai_module import AiModule
from sigopt_service.validation import validate_experiment_create


def open_store(config: ServiceConfig) -> BaseStore:
    """The store `config` names: PostgreSQL, SQLite at `config.db` (its folder private),
    else memory. Blocking: call it off the event loop."""
    if config.db is None:
        return InMemoryStore()
    if isinstance(config.db, PostgresUrl):
        return _postgres_store(config.db, read_only=config.read_only)
    if config.read_only:
        # A read-only service looks at a database; it never makes an empty one.
        if not config.db.is_file():
            raise DatabaseError(f"No database {config.db} to serve read-only")
        return SqliteStore(config.db, synchronous=config.synchronous, read_only=True)
    config.db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Checkpoints run on the store thread (`StoreCalls._maintain`), never inside a write
    # that `call_hot` may run on the loop.
    return SqliteStore(config.db, synchronous=config.synchronous, autocheckpoint=False)


def _postgres_store(location: PostgresUrl, *, read_only: bool) -> BaseStore:
    try:
        # Imported here: psycopg is an optional dependency (`orchestrator[postgres]`).
        from sigopt_service.store.postgres import PostgresStore
    except ImportError as exc:
        raise DatabaseError(
            f"Cannot store in {location}: PostgreSQL needs psycopg "
            "(pip install 'orchestrator[postgres]')"
        ) from exc
    return PostgresStore(location.url, read_only=read_only)


class OptimizationService:
    """The use-case layer: built from config + store (+ engine), owns the store thread.

    `store` stays the caller's: `aclose` closes it only when `owns_store` says so."""

    def __init__(
        self,
        config: ServiceConfig,
        store: BaseStore,
        *,
        engine: Engine | None = None,
        owns_store: bool = False,
    ) -> None:
        cached = CachingStore(store)
        self._core = Core(
            config=config,
            store=cached,
            engine=engine or Engine(cached, seed=config.seed, use_gp=config.use_gp),
        )
        self._calls = StoreCalls(cached, self._core.engine)
        #: The stored API tokens: lookups by secret, create / rotate / update / revoke.
        self.tokens = TokenRegistry(self._calls, cached, read_only=config.read_only)
        #: SigOpt's AI module: projects, AI experiments, training runs, checkpoints.
        self.ai = AiModule(self._core, self._calls)
        self._inner = store
        self._owns_store = owns_store
        # One importance estimate at a time: each is CPU-bound (seconds at worst), and a
        # page left open on several tabs must not take every core.
        self._estimates = anyio.CapacityLimiter(1)

    def __repr__(self) -> str:
        return f"<OptimizationService {self._calls!r} engine={self._core.engine!r}>"

    @property
    def config(self) -> ServiceConfig:
        return self._core.config

    def start(self) -> None:
        """Start the store thread; call once, before any use case."""
        self._calls.start()

    async def aclose(self) -> None:
        """Finish what is queued, close the store if it is ours (as the thread's last job,
        so it never races a write), stop the thread. Callers shield and bound it."""
        if self._owns_store:
            # On the runner itself, not `call`: no checkpoint check on a closed store.
            await self._calls.runner.call(self._inner.close)
        await self._calls.aclose()

    # -- experiments ---------------------------------------------------------------------
    async def create_experiment(self, body: dict[str, Any]) -> Experiment:
        new = validate_experiment_create(body)
        return await self._calls.call(_experiments.create, self._core, new)

    async def list_experiments(
        self,
        state: ExperimentStateFilter,
        listing: ExperimentListing,
        limit: int,
        cursor: int | None,
    ) -> tuple[list[Experiment], Page[Experiment]]:
        """The page's experiments (with `progress`) and the page itself (count, has_more),
        in `listing`'s order and filtered by it."""
        return await self._calls.call(_listing.listing, self._core, state, listing, limit, cursor)

    async def get_experiment(self, eid: int) -> Experiment:
        return await self._calls.call(_experiments.fetch, self._core, eid)

    async def update_experiment(self, eid: int, body: dict[str, Any]) -> Experiment:
        return await self._calls.call(_experiments.update, self._core, eid, body)

    async def delete_experiment(self, eid: int) -> None:
        await self._calls.call(_experiments.delete, self._core, eid)

    async def best_assignments(self, eid: int) -> list[Observation]:
        """The best observation (single metric) or the Pareto front (two)."""
        return await self._calls.call(_experiments.best, self._core, eid)

    async def stopping_reasons(self, eid: int) -> list[str]:
        """SigOpt's stopping reasons (`possible_stagnation`, `observation_budget_reached`)."""
        return await self._calls.call(_stopping.reasons, self._core, eid)

    # -- suggestions ---------------------------------------------------------------------
    async def suggest(
        self, eid: int, body: dict[str, Any], *, within_budget: bool = False
    ) -> Suggestion:
        """A new open suggestion: the engine's, or the client's own `assignments`. With
        `within_budget`, refused (`budget_reached`) once the budget is filled."""
        return await self._calls.call_hot(
            eid,
            lambda: _suggestions.create(self._core, eid, body, within_budget),
            asks=body.get("assignments") is None,
            counts=within_budget,
        )

    async def list_suggestions(
        self,
        eid: int,
        *,
        open_only: bool,
        include_deleted: bool,
        ids: list[int] | None,
        limit: int,
        cursor: int | None,
    ) -> Page[Suggestion]:
        return await self._calls.call(
            _suggestions.listing,
            self._core,
            eid,
            open_only=open_only,
            include_deleted=include_deleted,
            ids=ids,
            limit=limit,
            cursor=cursor,
        )

    async def get_suggestion(self, eid: int, sid: int) -> Suggestion:
        return await self._calls.call(_suggestions.live, self._core, eid, sid)

    async def update_suggestion(self, eid: int, sid: int, body: dict[str, Any]) -> Suggestion:
        return await self._calls.call(_suggestions.update, self._core, eid, sid, body)

    async def delete_suggestion(self, eid: int, sid: int) -> None:
        await self._calls.call(_suggestions.delete, self._core, eid, sid)

    async def delete_suggestions(self, eid: int, *, open_only: bool) -> None:
        await self._calls.call(_suggestions.delete_all, self._core, eid, open_only=open_only)

    # -- observations --------------------------------------------------------------------
    async def observe(
        self, eid: int, body: dict[str, Any], *, within_budget: bool = False
    ) -> Observed:
        """Store one observation. Our extension: with `"next_suggestion": {"metadata": ...}`
        in the body, then create the next suggestion in the same call (one request instead
        of two per evaluation, and never one more open suggestion than before).
        `within_budget` applies to that suggestion as on `suggest`. If it cannot be made
        (the budget is full, an engine error), the observation is still stored:
        `Observed.refused` says why."""
        wants_next = body.get("next_suggestion") is not None
        if within_budget and not wants_next:
            raise InvalidRequest(
                "`within_budget` applies to `next_suggestion` only: give both",
                field="within_budget",
                code="invalid_request",
            )
        return await self._calls.call_hot(
            eid,
            lambda: _observations.create(
                self._core, eid, body, wants_next=wants_next, within_budget=within_budget
            ),
            asks=wants_next,
            counts=within_budget,
        )

    async def observe_batch(self, eid: int, body: dict[str, Any]) -> list[Observation]:
        """Store `body["observations"]` all or nothing (`dry_run`: check, store nothing)."""
        dry_run = body.get("dry_run", False)
        if not isinstance(dry_run, bool):
            # "true" or 1 must not silently store the batch for real.
            raise InvalidRequest(
                f"Invalid value for `dry_run`: {dry_run!r:.40} is not a boolean",
                field="dry_run",
                code="invalid_value",
            )
        return await self._calls.call(_observations.create_batch, self._core, eid, body, dry_run)

    async def list_observations(
        self,
        eid: int,
        order: ObservationOrder,
        *,
        deleted_only: bool,
        limit: int,
        cursor: int | None,
    ) -> Page[Observation]:
        """One page in `order` (by id, time, a metric's value or a parameter); a metric
        or parameter the experiment lacks is a 400 naming `sort`."""
        return await self._calls.call(
            _listing.observations,
            self._core,
            eid,
            order,
            deleted_only=deleted_only,
            limit=limit,
            cursor=cursor,
        )

    async def get_observation(self, eid: int, oid: int) -> Observation:
        return await self._calls.call(self._core.store.get_observation, eid, oid)

    async def update_observation(self, eid: int, oid: int, body: dict[str, Any]) -> Observation:
        return await self._calls.call(_observations.update, self._core, eid, oid, body)

    async def delete_observation(self, eid: int, oid: int) -> None:
        await self._calls.call(_observations.delete, self._core, eid, oid)

    async def delete_observations(self, eid: int) -> None:
        await self._calls.call(_observations.delete_all, self._core, eid)

    # -- queued suggestions ----------------------------------------------------------------
    async def queue_suggestion(self, eid: int, body: dict[str, Any]) -> QueuedSuggestion:
        """Queue `body["assignments"]`: the next suggestions serve the oldest first."""
        return await self._calls.call(_queued.create, self._core, eid, body)

    async def list_queued_suggestions(
        self, eid: int, *, ascending: bool, limit: int, cursor: int | None
    ) -> Page[QueuedSuggestion]:
        return await self._calls.call(
            _queued.listing, self._core, eid, ascending=ascending, limit=limit, cursor=cursor
        )

    async def get_queued_suggestion(self, eid: int, qid: int) -> QueuedSuggestion:
        return await self._calls.call(_queued.fetch, self._core, eid, qid)

    async def delete_queued_suggestion(self, eid: int, qid: int) -> None:
        await self._calls.call(_queued.delete, self._core, eid, qid)

    # -- analysis: the pages' reads ------------------------------------------------------
    async def experiment_overviews(
        self, listing: ExperimentListing, limit: int, cursor: int | None
    ) -> tuple[list[ExperimentOverview], Page[Experiment]]:
        """A page of active experiments, each with its open suggestions and failures: a
        store call per experiment, so other requests are served between them."""
        page = await self._calls.call(_analysis.experiment_page, self._core, listing, limit, cursor)
        rows = [await self._calls.call(_analysis.overview, self._core, e) for e in page.items]
        return rows, page

    async def history(self, eid: int) -> History:
        """The experiment, every observation, the open suggestions, the best."""
        return await self._calls.call(_analysis.history, self._core, eid)

    async def history_after(self, eid: int, after: int) -> HistoryUpdate:
        """What changed for a page that holds every observation up to id `after`."""
        return await self._calls.call(_analysis.history_after, self._core, eid, after)

    async def metric_importances(self, eid: int) -> list[MetricImportance]:
        """Parameter importances per optimized metric (none before enough observations)."""
        found, _ = await self.importances_with_progress(eid)
        return found

    async def importances_with_progress(
        self, eid: int
    ) -> tuple[list[MetricImportance], int | None]:
        """The importances and, while there are none, how many completed observations count
        towards them (`_importances.importances_with_progress`): the history is read once
        on the store thread, the estimate runs on a worker thread, so neither the loop nor
        the store's writes wait for it."""
        experiment, observations = await self._calls.call(_analysis.observations, self._core, eid)
        return await anyio.to_thread.run_sync(
            _importances.importances_with_progress,
            experiment,
            observations,
            limiter=self._estimates,
        )
