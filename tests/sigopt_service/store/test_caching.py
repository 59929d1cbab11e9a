"""CachingStore beyond the contract: its answers equal the inner store's after every kind
of write, it reads the inner store only when cold, and it hands out copies only."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sigopt_service.errors import StoreError
from sigopt_service.models import (
    Bounds,
    CategoricalValue,
    Experiment,
    ExperimentState,
    Metric,
    MetricEvaluation,
    Objective,
    Parameter,
    ParameterType,
)
from sigopt_service.store import BaseStore, CachingStore, InMemoryStore, SqliteStore
from sigopt_service.store.caching import owned_experiment
from tests.sigopt_service.store.helpers import new_experiment, observed


class CountingStore(InMemoryStore):
    """An InMemoryStore that counts the reads a cache should save."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.reads[name] = self.reads.get(name, 0) + 1

    def get_experiment(self, experiment_id: int) -> Experiment:
        self._count("get_experiment")
        return super().get_experiment(experiment_id)

    def observation_count(self, experiment_id: int) -> int:
        self._count("observation_count")
        return super().observation_count(experiment_id)

    def all_observations(self, experiment_id: int) -> list[Any]:
        self._count("all_observations")
        return super().all_observations(experiment_id)

    def queued_suggestion_count(self, experiment_id: int) -> int:
        self._count("queued_suggestion_count")
        return super().queued_suggestion_count(experiment_id)


@pytest.fixture(params=["memory", "sqlite"])
def inner(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseStore]:
    made: BaseStore = (
        InMemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "inner.db")
    )
    yield made
    made.close()


def views(store: BaseStore, eid: int) -> tuple[Any, ...]:
    """Everything CachingStore answers from memory, as one comparable value."""
    return (
        store.get_experiment(eid),
        store.observation_count(eid),
        store.open_suggestion_count(eid),
        store.best_observation(eid),
        store.queued_suggestion_count(eid),
    )


def warm(caching: CachingStore, eid: int) -> None:
    views(caching, eid)
    assert caching.is_warm(eid, counts=True)


Write = Callable[[CachingStore, int], object]


def _sids(store: BaseStore, eid: int, *, open_only: bool = True) -> list[int]:
    return [int(s.id) for s in store.list_suggestions(eid, open_only=open_only).items]


def _oldest_queued(store: BaseStore, eid: int) -> int:
    oldest = store.oldest_queued_suggestion(eid)
    if oldest is None:
        raise LookupError("nothing queued")
    return int(oldest.id)


def _best_id(store: BaseStore, eid: int) -> int:
    best = store.best_observation(eid)
    if best is None:
        raise LookupError("no best observation yet")
    return int(best.id)


#: One write of each kind, each chosen so that it changes a cached view: a write that
#: forgot to update or drop its cache leaves a stale answer behind.
WRITES: dict[str, Write] = {
    "create_suggestion": lambda s, e: s.create_suggestion(e, {"x": 0.5}),
    "create_observations": lambda s, e: s.create_observations(
        e, [observed(_sids(s, e)[0], 50.0), observed(value=60.0)]
    ),
    "create_observations_duplicates": lambda s, e: s.create_observations(
        e, [observed(_sids(s, e)[0]), observed(_sids(s, e)[0])], allow_duplicates=True
    ),
    "create_observations_dry_run": lambda s, e: s.create_observations(
        e, [observed(_sids(s, e)[0], 99.0)], dry_run=True
    ),
    "update_experiment": lambda s, e: s.update_experiment(
        e, {"name": "renamed", "metrics": [Metric(name="y", objective=Objective.MINIMIZE)]}
    ),
    "delete_experiment": lambda s, e: s.update_experiment(e, {"state": ExperimentState.DELETED}),
    "update_suggestion": lambda s, e: s.update_suggestion(e, _sids(s, e)[0], {"k": 1}),
    "delete_suggestion": lambda s, e: s.delete_suggestion(e, _sids(s, e)[0]),
    "delete_suggestions": lambda s, e: s.delete_suggestions(e, open_only=False),
    "update_observation": lambda s, e: s.update_observation(
        e, _best_id(s, e), {"values": [MetricEvaluation(name="y", value=-1.0)]}
    ),
    "move_observation_to_suggestion": lambda s, e: s.update_observation(
        e, _best_id(s, e), {"suggestion": _sids(s, e)[0]}
    ),
    "move_observation_to_assignments": lambda s, e: s.update_observation(
        e, _best_id(s, e), {"assignments": {"x": 0.9}}
    ),
    "delete_observation": lambda s, e: s.delete_observation(e, _best_id(s, e)),
    "delete_observations": lambda s, e: s.delete_observations(e),
    "create_queued_suggestion": lambda s, e: s.create_queued_suggestion(e, {"x": 0.4}),
    "serve_queued_suggestion": lambda s, e: s.serve_queued_suggestion(e, _oldest_queued(s, e)),
    "delete_queued_suggestion": lambda s, e: s.delete_queued_suggestion(e, _oldest_queued(s, e)),
}


def _history(store: BaseStore) -> int:
    eid = int(store.create_experiment(new_experiment()).id)
    sids = [int(store.create_suggestion(eid, {"x": i / 10}).id) for i in range(4)]
    store.create_observations(eid, [observed(sids[0], 3.0), observed(sids[1], 7.0)])
    for x in (0.11, 0.12):
        store.create_queued_suggestion(eid, {"x": x})
    return eid


class TestEveryWriteKeepsTheCaches:
    """After each kind of write through the wrapper, its answers are the inner store's."""

    @pytest.mark.parametrize("write", sorted(WRITES))
    def test_write(self, inner: BaseStore, write: str) -> None:
        """Warm every cache, write once, compare every cached view with the inner store."""
        caching = CachingStore(inner)
        eid = _history(caching)
        warm(caching, eid)
        WRITES[write](caching, eid)
        assert views(caching, eid) == views(inner, eid)

    @pytest.mark.parametrize(
        "write",
        [
            "delete_observation",
            "update_observation",
            "delete_suggestion",
            "move_observation_to_suggestion",
            "move_observation_to_assignments",
        ],
    )
    def test_a_forgotten_drop_is_caught(
        self, inner: BaseStore, write: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The check above is not vacuous: with the drop removed, it sees a stale answer."""
        monkeypatch.setattr(CachingStore, "_drop_views", lambda self, eid: None)
        caching = CachingStore(inner)
        eid = _history(caching)
        warm(caching, eid)
        WRITES[write](caching, eid)
        assert views(caching, eid) != views(inner, eid)

    @pytest.mark.parametrize(
        "write", ["create_queued_suggestion", "serve_queued_suggestion", "delete_queued_suggestion"]
    )
    def test_a_forgotten_queue_count_is_caught(
        self, inner: BaseStore, write: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The same for the queue's count: with its update removed, it is stale."""
        monkeypatch.setattr(CachingStore, "_queue_changed", lambda self, eid, by: None)
        caching = CachingStore(inner)
        eid = _history(caching)
        warm(caching, eid)
        WRITES[write](caching, eid)
        assert views(caching, eid) != views(inner, eid)

    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_random_interleaving(self, inner: BaseStore, seed: int) -> None:
        """A seeded random mix of every write on two experiments, views read at random
        (so caches are sometimes warm, sometimes cold), always equals the inner store."""
        rng = random.Random(seed)
        caching = CachingStore(inner, size=1)  # tiny: evictions happen too
        eids = [_history(caching), _history(caching)]
        for step in range(120):
            eid = rng.choice(eids)
            name = rng.choice(sorted(WRITES))
            if name == "delete_experiment":
                continue  # keeps the run going; the parametrized test covers it
            # No open suggestion or no best yet: that write has nothing to act on.
            with contextlib.suppress(LookupError, StoreError):
                WRITES[name](caching, eid)
            if rng.random() < 0.5:
                assert views(caching, eid) == views(inner, eid), f"step {step}: {name}"
            if rng.random() < 0.2:
                caching.create_suggestion(eid, {"x": rng.random()})
        for eid in eids:
            assert views(caching, eid) == views(inner, eid)


class TestReadsFromMemory:
    """Once warm, the hot path's reads never reach the inner store."""

    def test_warm_reads_skip_the_inner_store(self) -> None:
        """The experiment, counts, best and queue's count are read from the inner store
        once each."""
        inner = CountingStore()
        caching = CachingStore(inner)
        eid = int(caching.create_experiment(new_experiment()).id)
        assert not caching.is_warm(eid, counts=False)
        for _ in range(3):
            sid = int(caching.create_suggestion(eid, {"x": 0.1}).id)
            caching.create_observations(eid, [observed(sid, 2.0)])
            views(caching, eid)
        assert inner.reads == {
            "get_experiment": 1,
            "observation_count": 1,
            "all_observations": 1,
            "queued_suggestion_count": 1,
        }

    def test_is_warm(self) -> None:
        """is_warm says whether the experiment, and if asked its counts, are cached."""
        caching = CachingStore(InMemoryStore(), size=2)
        e1, e2, e3 = (int(caching.create_experiment(new_experiment()).id) for _ in "abc")
        caching.get_experiment(e1)
        assert caching.is_warm(e1, counts=False) and not caching.is_warm(e1, counts=True)
        caching.observation_count(e1)
        assert caching.is_warm(e1, counts=True)
        caching.get_experiment(e2)
        caching.get_experiment(e3)  # evicts e1, the least recently used
        assert not caching.is_warm(e1, counts=False) and caching.is_warm(e3, counts=False)
        caching.update_experiment(e3, {"name": "n"})
        assert not caching.is_warm(e3, counts=False)

    def test_is_warm_for_the_queue_only_when_known_empty(self) -> None:
        """Serving reads the oldest entry: a suggest is warm only once the queue's count is
        cached and zero."""
        caching = CachingStore(InMemoryStore())
        eid = int(caching.create_experiment(new_experiment()).id)
        caching.get_experiment(eid)
        assert caching.is_warm(eid, counts=False) and not caching.is_warm(
            eid, counts=False, queue=True
        )
        assert caching.queued_suggestion_count(eid) == 0
        assert caching.is_warm(eid, counts=False, queue=True)
        qid = int(caching.create_queued_suggestion(eid, {"x": 0.5}).id)
        assert not caching.is_warm(eid, counts=False, queue=True)
        caching.serve_queued_suggestion(eid, qid)
        assert caching.is_warm(eid, counts=False, queue=True)

    def test_queue_count_read_once(self) -> None:
        """The queue's count is read from the inner store once, then kept by the writes."""
        inner = CountingStore()
        caching = CachingStore(inner)
        eid = int(caching.create_experiment(new_experiment()).id)
        for _ in range(3):
            qid = int(caching.create_queued_suggestion(eid, {"x": 0.1}).id)
            assert caching.queued_suggestion_count(eid) == 1
            caching.serve_queued_suggestion(eid, qid)
            assert caching.queued_suggestion_count(eid) == 0
        assert inner.reads == {"queued_suggestion_count": 1}

    def test_delegation_and_repr(self, tmp_path: Path) -> None:
        """Speed, housekeeping and closing are the inner store's; repr shows the caches."""
        inner = SqliteStore(tmp_path / "s.db", synchronous="FULL", autocheckpoint=False)
        caching = CachingStore(inner)
        assert caching.writes_are_quick is inner.writes_are_quick is False
        assert caching.maintenance_due is inner.maintenance_due is False
        caching.maintain()
        eid = int(caching.create_experiment(new_experiment()).id)
        caching.get_experiment(eid)
        assert repr(caching) == (
            f"<CachingStore of {inner!r} experiments=1/256 counts=0 best=0 queued=0>"
        )
        caching.close()
        assert "closed" in repr(inner)
        assert repr(caching).endswith("experiments=0/256 counts=0 best=0 queued=0>")


class TestSnapshots:
    """A cached record is never handed out: callers get copies they may mutate."""

    def test_owned_experiment_shares_no_container(self) -> None:
        """No list or dict of the copy is one of the original's, at any depth."""
        experiment = InMemoryStore().create_experiment(
            new_experiment().model_copy(
                update={
                    "parameters": [
                        Parameter(
                            name="c",
                            type=ParameterType.CATEGORICAL,
                            categorical_values=[CategoricalValue(name="a", enum_index=1)],
                            conditions={"k": ["v"]},
                        ),
                        Parameter(name="g", type=ParameterType.DOUBLE, grid=[0.1, 0.2]),
                        Parameter(name="x", type=ParameterType.DOUBLE, bounds=Bounds(min=0, max=1)),
                    ],
                    "conditionals": [{"name": "k", "values": ["v"]}],
                    "linear_constraints": [{"terms": [{"name": "x", "weight": 1}]}],
                }
            )
        )
        copied = owned_experiment(experiment)
        assert copied == experiment
        assert not _containers(copied) & _containers(experiment)

    def test_mutating_a_result_leaves_the_cache_alone(self) -> None:
        """Mutations of a returned experiment or best observation do not reach the cache."""
        caching = CachingStore(InMemoryStore())
        eid = int(caching.create_experiment(new_experiment()).id)
        [created] = caching.create_observations(eid, [observed(value=4.0)])
        before = views(caching, eid)
        experiment, _, _, best, _ = views(caching, eid)
        assert experiment.metadata is not None and best is not None
        experiment.metadata["owner"] = "mallory"
        experiment.parameters.clear()
        best.assignments["x"] = 0.99
        created.assignments["x"] = 0.98  # the caller's own result, folded into the best
        assert views(caching, eid) == before

    def test_peek_is_shared_and_never_changed(self) -> None:
        """peek_experiment returns the cached object itself, which writes replace, never
        mutate: a peeked experiment keeps showing what it showed."""
        caching = CachingStore(InMemoryStore())
        eid = int(caching.create_experiment(new_experiment()).id)
        peeked = caching.peek_experiment(eid)
        assert caching.peek_experiment(eid) is peeked
        assert caching.get_experiment(eid) == peeked
        assert caching.get_experiment(eid) is not peeked
        caching.update_experiment(eid, {"name": "renamed"})
        assert peeked.name == "exp"
        assert caching.peek_experiment(eid).name == "renamed"


def _containers(value: object) -> set[int]:
    """ids of every list and dict reachable from `value` through models and containers."""
    found: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list | dict):
            found.add(id(item))
            stack.extend(item.values() if isinstance(item, dict) else item)
        elif hasattr(item, "__pydantic_fields__"):
            stack.extend(vars(item).values())
    return found
