"""The use-case layer on its own (no HTTP): `OptimizationService` validates, runs each use
case on the store thread (or the hot path), tells the engine about every write, and raises
the store's own errors for the HTTP layer to map."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sigopt_service.config import ServiceConfig
from sigopt_service.engine import Engine, Proposal
from sigopt_service.errors import (
    AlreadyObserved,
    Conflict,
    DatabaseError,
    InvalidRequest,
    RecordNotFound,
    UnknownSuggestion,
)
from sigopt_service.models import Assignments, Metadata, Suggestion, Task
from sigopt_service.store import InMemoryStore
from sigopt_service.usecases import OptimizationService

PARAMS = [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}]


class _SpyEngine(Engine):
    """Records what the use-case layer tells the engine."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.told: list[str] = []

    def accepted(self, proposal: Proposal, suggestion: Suggestion) -> None:
        self.told.append(f"accepted {suggestion.id}")
        super().accepted(proposal, suggestion)

    def discarded(self, proposal: Proposal) -> None:
        self.told.append("discarded")
        super().discarded(proposal)

    def invalidate(self, experiment_id: int) -> None:
        self.told.append("invalidate")
        super().invalidate(experiment_id)


class _FailingSuggestionStore(InMemoryStore):
    fail = False

    def create_suggestion(
        self,
        experiment_id: int,
        assignments: Assignments,
        metadata: Metadata | None = None,
        *,
        task: Task | None = None,
    ) -> Suggestion:
        if self.fail:
            raise DatabaseError("disk full")
        return super().create_suggestion(experiment_id, assignments, metadata, task=task)


@pytest.fixture
def store() -> _FailingSuggestionStore:
    return _FailingSuggestionStore()


@pytest.fixture
async def service(store: InMemoryStore) -> AsyncIterator[OptimizationService]:
    config = ServiceConfig(seed=3)
    service = OptimizationService(config, store, engine=_SpyEngine(store, seed=3))
    service.start()
    try:
        yield service
    finally:
        await service.aclose()


def _told(service: OptimizationService) -> list[str]:
    engine = service._core.engine
    assert isinstance(engine, _SpyEngine)
    return engine.told


async def _experiment(service: OptimizationService, **extra: Any) -> int:
    body = {"name": "e", "type": "random", "parameters": PARAMS, **extra}
    return int((await service.create_experiment(body)).id)


class TestUseCases:
    async def test_observe_and_suggest_keeps_one_open_suggestion(
        self, service: OptimizationService, store: InMemoryStore
    ) -> None:
        """Observing with `next_suggestion` closes one suggestion and opens the next."""
        eid = await _experiment(service, observation_budget=5)
        first = await service.suggest(eid, {})
        observed = await service.observe(
            eid, {"suggestion": first.id, "value": 1.0, "next_suggestion": {}}, within_budget=True
        )
        assert observed.next_suggestion is not None and observed.refused is None
        assert store.open_suggestion_count(eid) == 1 and store.observation_count(eid) == 1

    async def test_budget_refusal_is_a_conflict_with_its_code(
        self, service: OptimizationService
    ) -> None:
        """`within_budget` refuses once observations plus open suggestions fill the budget."""
        eid = await _experiment(service, observation_budget=1)
        await service.suggest(eid, {}, within_budget=True)
        with pytest.raises(Conflict) as refused:
            await service.suggest(eid, {}, within_budget=True)
        assert refused.value.code == "budget_reached"

    async def test_refused_next_suggestion_still_stores_the_observation(
        self, service: OptimizationService, store: InMemoryStore
    ) -> None:
        """A full budget refuses the next suggestion, never the observation."""
        eid = await _experiment(service, observation_budget=1)
        first = await service.suggest(eid, {})
        observed = await service.observe(
            eid, {"suggestion": first.id, "value": 1.0, "next_suggestion": {}}, within_budget=True
        )
        assert observed.next_suggestion is None
        assert isinstance(observed.refused, Conflict) and observed.refused.code == "budget_reached"
        assert store.observation_count(eid) == 1

    async def test_within_budget_needs_next_suggestion(self, service: OptimizationService) -> None:
        eid = await _experiment(service)
        with pytest.raises(InvalidRequest) as refused:
            await service.observe(eid, {"suggestion": 1, "value": 1.0}, within_budget=True)
        assert refused.value.field == "within_budget"

    async def test_store_errors_reach_the_caller_unmapped(
        self, service: OptimizationService
    ) -> None:
        """The use cases raise the store's own errors; HTTP statuses are chosen above."""
        eid = await _experiment(service)
        with pytest.raises(RecordNotFound):
            await service.get_experiment(eid + 1)
        with pytest.raises(UnknownSuggestion):
            await service.observe(eid, {"suggestion": 999, "value": 1.0})
        first = await service.suggest(eid, {})
        await service.observe(eid, {"suggestion": first.id, "value": 1.0})
        with pytest.raises(AlreadyObserved):
            await service.observe(eid, {"suggestion": first.id, "value": 2.0})


class TestTheEngineHearsOfEveryWrite:
    async def test_accepted_after_storing(self, service: OptimizationService) -> None:
        """The engine proposes, the use case stores, then the engine hears the id."""
        eid = await _experiment(service)
        suggestion = await service.suggest(eid, {})
        assert _told(service)[-1] == f"accepted {suggestion.id}"

    async def test_discarded_when_storing_fails(
        self, service: OptimizationService, store: _FailingSuggestionStore
    ) -> None:
        eid = await _experiment(service)
        store.fail = True
        with pytest.raises(DatabaseError):
            await service.suggest(eid, {})
        assert "discarded" in _told(service)
        assert not [t for t in _told(service) if t.startswith("accepted")]

    async def test_client_assignments_and_deletes_invalidate(
        self, service: OptimizationService
    ) -> None:
        """A point the engine did not propose, and any delete, make it rebuild."""
        eid = await _experiment(service)
        own = await service.suggest(eid, {"assignments": {"x": 0.5}})
        assert _told(service)[-1] == "invalidate"
        _told(service).clear()
        await service.delete_suggestion(eid, int(own.id))
        await service.delete_observations(eid)
        assert _told(service) == ["invalidate", "invalidate"]


class TestWhereTheWorkRuns:
    async def test_warm_random_suggestions_run_on_the_loop(
        self, service: OptimizationService, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The first suggestion of an experiment is cold (store thread); later ones of a
        model-free engine run right on the loop, as `call_hot` promises."""
        seen: list[str] = []
        real = InMemoryStore.create_suggestion

        def spy(self: InMemoryStore, *args: Any, **kwargs: Any) -> Suggestion:
            seen.append(threading.current_thread().name)
            return real(self, *args, **kwargs)

        monkeypatch.setattr(InMemoryStore, "create_suggestion", spy)
        eid = await _experiment(service)
        for _ in range(3):
            await service.suggest(eid, {})
        assert seen[0] == "store"
        assert set(seen[1:]) == {threading.current_thread().name}
