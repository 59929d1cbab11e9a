"""The optimizer engine: assignment types, grid and random samplers, pending points."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from sigopt_service.engine import Engine
from sigopt_service.errors import InvalidRequest
from sigopt_service.store import InMemoryStore
from sigopt_service.usecases import suggest_and_store
from tests.sigopt_service.engine_helpers import (
    categories,
    check_types,
    make_experiment,
    mixed_loss,
    observe,
    running_trials,
)


class TestAssignments:
    @pytest.mark.parametrize("type", ["offline", "random"])
    def test_types_and_bounds(self, store: InMemoryStore, type: str) -> None:
        """Every parameter kind comes back with its wire type and inside its bounds."""
        experiment = make_experiment(store, type=type)
        engine = Engine(store, seed=1)
        # 30 rounds: past TPE's random start-up, so the model's samples are checked too.
        for _ in range(30):
            suggestion = suggest_and_store(engine, store, experiment, {"worker": "w1"})
            check_types(experiment, suggestion.assignments)
            assert suggestion.metadata == {"worker": "w1"}
            observe(engine, store, experiment, suggestion, mixed_loss(suggestion.assignments))
        assert store.observation_count(int(experiment.id)) == 30

    def test_log_parameter_spans_decades(self, store: InMemoryStore) -> None:
        """A log-transformed parameter is sampled uniformly in log space."""
        params = [{"name": "lr", "type": "double", "bounds": {"min": 1e-6, "max": 1.0},
                   "transformation": "log"}]  # fmt: skip
        experiment = make_experiment(store, params, type="random")
        engine = Engine(store, seed=2)
        values = [
            suggest_and_store(engine, store, experiment).assignments["lr"] for _ in range(600)
        ]
        decades = Counter(math.floor(math.log10(float(v))) for v in values)
        assert set(decades) == {-6, -5, -4, -3, -2, -1}
        assert min(decades.values()) > 60


class TestGrid:
    def test_enumerates_every_point_then_wraps(self, store: InMemoryStore) -> None:
        """A grid experiment visits each point of the cartesian grid once, then starts over."""
        params: list[dict[str, Any]] = [
            {"name": "b", "type": "int", "grid": [3, 1, 2]},
            {"name": "a", "type": "double", "grid": [0.5, 0.25]},
            {"name": "c", "type": "categorical", "categorical_values": categories("u", "v")},
        ]
        experiment = make_experiment(store, params, type="grid")
        engine = Engine(store, seed=0)
        points = [suggest_and_store(engine, store, experiment).assignments for _ in range(12)]
        keys = [(p["a"], p["b"], p["c"]) for p in points]
        assert len(set(keys)) == 12
        assert {type(p["a"]) for p in points} == {float}
        assert {type(p["b"]) for p in points} == {int}
        # Parameters sorted by name, the first varying slowest, values sorted.
        assert keys[:3] == [(0.25, 1, "u"), (0.25, 1, "v"), (0.25, 2, "u")]
        wrapped = [suggest_and_store(engine, store, experiment).assignments for _ in range(12)]
        assert wrapped == points

    def test_restart_continues_from_suggestion_count(self, store: InMemoryStore) -> None:
        """The grid position comes from the store, so a new engine continues, not restarts."""
        params = [{"name": "a", "type": "int", "grid": [1, 2, 3, 4]}]
        experiment = make_experiment(store, params, type="grid")
        first = [
            suggest_and_store(Engine(store), store, experiment).assignments["a"] for _ in range(3)
        ]
        assert first == [1, 2, 3]
        assert suggest_and_store(Engine(store), store, experiment).assignments["a"] == 4

    def test_continuous_parameter_is_rejected(self, store: InMemoryStore) -> None:
        """A grid experiment with a continuous parameter cannot be enumerated."""
        params = [{"name": "a", "type": "double", "bounds": {"min": 0, "max": 1}}]
        experiment = make_experiment(store, params, type="grid")
        with pytest.raises(InvalidRequest, match="grid"):
            suggest_and_store(Engine(store), store, experiment)


class TestRandom:
    def test_seeded_engines_agree(self) -> None:
        """Two engines with the same seed on fresh stores give the same suggestions."""
        runs = []
        for _ in range(2):
            store = InMemoryStore()
            experiment = make_experiment(store, type="random")
            engine = Engine(store, seed=11)
            runs.append(
                [suggest_and_store(engine, store, experiment).assignments for _ in range(20)]
            )
        assert runs[0] == runs[1]
        store = InMemoryStore()
        other = suggest_and_store(
            Engine(store, seed=12), store, make_experiment(store, type="random")
        )
        assert other.assignments != runs[0][0]

    def test_restart_does_not_replay(self, store: InMemoryStore) -> None:
        """A restarted seeded engine continues the stream instead of repeating it."""
        experiment = make_experiment(store, type="random")
        before = [
            suggest_and_store(Engine(store, seed=3), store, experiment).assignments["x"]
            for _ in range(1)
        ]
        after = suggest_and_store(Engine(store, seed=3), store, experiment).assignments["x"]
        assert after not in before


class TestPending:
    @pytest.mark.parametrize("n_observed", [0, 25])
    def test_open_suggestions_are_distinct(self, store: InMemoryStore, n_observed: int) -> None:
        """Eight suggestions open at once are distinct, in start-up and in the model phase."""
        experiment = make_experiment(store)
        engine = Engine(store, seed=4)
        for _ in range(n_observed):
            suggestion = suggest_and_store(engine, store, experiment)
            observe(engine, store, experiment, suggestion, mixed_loss(suggestion.assignments))
        open_now = [suggest_and_store(engine, store, experiment) for _ in range(8)]
        assert len({s.assignments["x"] for s in open_now}) == 8
        assert len({repr(sorted(s.assignments.items())) for s in open_now}) == 8
        running = running_trials(engine, experiment)
        assert len(running) == 8

    def test_discrete_space_avoids_duplicates_while_it_can(self, store: InMemoryStore) -> None:
        """In a 5-point space, 5 open suggestions take every point once; a 6th repeats one."""
        params = [{"name": "k", "type": "int", "bounds": {"min": 1, "max": 5}}]
        experiment = make_experiment(store, params)
        engine = Engine(store, seed=5)
        values = [suggest_and_store(engine, store, experiment).assignments["k"] for _ in range(6)]
        assert sorted(values[:5]) == [1, 2, 3, 4, 5]
        assert values[5] in values[:5]

    def test_small_discrete_space_allows_duplicates(self, store: InMemoryStore) -> None:
        """With more open suggestions than points, duplicates are served, not an error."""
        params = [{"name": "c", "type": "categorical", "categorical_values": categories("a", "b")}]
        experiment = make_experiment(store, params)
        engine = Engine(store, seed=5)
        values = [suggest_and_store(engine, store, experiment).assignments["c"] for _ in range(6)]
        assert set(values) == {"a", "b"}
