"""Two engines on one PostgreSQL database, as two service processes: each study catches up
with what the other stored (no rebuild), and holds then what a rebuild would hold."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from optuna.trial import TrialState

import sigopt_service.engine.engine as engine_module
from sigopt_service.engine import Engine
from sigopt_service.engine._model import build_model
from sigopt_service.models import Experiment
from sigopt_service.store import CachingStore, NewObservation
from sigopt_service.store.postgres import PostgresStore
from sigopt_service.usecases import suggest_and_store
from tests.sigopt_service.engine_helpers import (
    make_experiment,
    mixed_loss,
    observe,
    study_of,
    trial_summary,
)
from tests.sigopt_service.store.helpers import make_store


@pytest.fixture
def stores(postgres_url: str) -> Iterator[tuple[CachingStore, CachingStore]]:
    """Two stores on one database, wrapped as each service process wraps its own."""
    first, second = (
        CachingStore(PostgresStore(postgres_url)),
        CachingStore(PostgresStore(postgres_url)),
    )
    yield first, second
    first.close()
    second.close()


def _rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The experiment ids of every study rebuilt from here on."""
    rebuilt: list[int] = []
    original = engine_module.build_model

    def counting(experiment: Experiment, *args: object, **kwargs: object) -> object:
        rebuilt.append(int(experiment.id))
        return original(experiment, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module, "build_model", counting)
    return rebuilt


def test_each_engine_catches_up_with_the_other(
    stores: tuple[CachingStore, CachingStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_store, b_store = stores
    experiment = make_experiment(a_store)  # type: ignore[arg-type]
    a, b = Engine(a_store, seed=3), Engine(b_store, seed=4)
    # Warm both studies, then count rebuilds from here on.
    pending = [suggest_and_store(a, a_store, experiment), suggest_and_store(b, b_store, experiment)]
    rebuilt = _rebuilds(monkeypatch)
    for i in range(12):
        engine, store = (a, a_store) if i % 2 == 0 else (b, b_store)
        oldest = pending.pop(0)
        observe(
            engine,
            store,
            experiment,
            oldest,
            None if i % 5 == 4 else mixed_loss(oldest.assignments),
        )  # type: ignore[arg-type]
        pending.append(suggest_and_store(engine, store, experiment))
    assert rebuilt == []  # every proposal caught up instead

    # After its next proposal, each study holds what a study rebuilt from the database
    # holds: every observation, and one pending trial per open suggestion.
    eid = int(experiment.id)
    for engine, store in ((a, a_store), (b, b_store)):
        suggest_and_store(engine, store, experiment)
        reference = build_model(
            experiment,
            store.all_observations(eid),
            store.open_suggestions(eid),
            store.suggestion_count(eid),
            seed=1,
            use_gp=False,
            gp_disabled=False,
        )
        study = study_of(engine, experiment)
        assert trial_summary(study) == trial_summary(reference.study)
        states = Counter(t.state for t in study.get_trials(deepcopy=False))
        assert states[TrialState.COMPLETE] == 12
        assert states[TrialState.RUNNING] == store.open_suggestion_count(eid)
    assert rebuilt == []


def test_a_deletion_elsewhere_rebuilds(
    stores: tuple[CachingStore, CachingStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A suggestion deleted by the other process is no plain addition: the study that
    still counts it pending is rebuilt, not patched."""
    a_store, b_store = stores
    experiment = make_experiment(a_store)  # type: ignore[arg-type]
    a, b = Engine(a_store, seed=3), Engine(b_store, seed=4)
    first = suggest_and_store(a, a_store, experiment)
    suggest_and_store(b, b_store, experiment)
    rebuilt = _rebuilds(monkeypatch)
    b_store.delete_suggestion(int(experiment.id), int(first.id))
    suggest_and_store(a, a_store, experiment)
    assert rebuilt == [int(experiment.id)]
    running = [
        t
        for t in study_of(a, experiment).get_trials(deepcopy=False)
        if t.state is TrialState.RUNNING
    ]
    assert len(running) == a_store.open_suggestion_count(int(experiment.id))


def test_a_rewrite_elsewhere_with_the_same_counts_rebuilds(
    stores: tuple[CachingStore, CachingStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process changes an observation's value: no count moves, yet the study must
    not keep telling its optimizer the old value (`history_rewrites`)."""
    a_store, b_store = stores
    experiment = make_experiment(a_store)  # type: ignore[arg-type]
    eid = int(experiment.id)
    a = Engine(a_store, seed=3)
    first = suggest_and_store(a, a_store, experiment)
    (observation,) = observe(a, a_store, experiment, first, 5.0)  # type: ignore[arg-type]
    suggest_and_store(a, a_store, experiment)
    rebuilt = _rebuilds(monkeypatch)
    b_store.update_observation(
        eid, int(observation.id), {"values": [{"name": "loss", "value": -7.0}]}
    )
    suggest_and_store(a, a_store, experiment)
    assert rebuilt == [eid]
    (complete,) = [
        t
        for t in study_of(a, experiment).get_trials(deepcopy=False)
        if t.state is TrialState.COMPLETE
    ]
    assert complete.values == [-7.0]


@pytest.mark.parametrize("mode", ["sqlite", "postgres"])
def test_history_rewrites_counts_rewrites_not_additions(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("postgres_url") if mode == "postgres" else None
    store = make_store(mode, tmp_path, url)
    try:
        experiment = make_experiment(store)  # type: ignore[arg-type]
        eid = int(experiment.id)
        s1, s2, s3 = (store.create_suggestion(eid, {"x": 0.5}) for _ in range(3))
        (o1,) = store.create_observations(eid, [NewObservation(suggestion=int(s1.id), failed=True)])
        store.create_observations(eid, [NewObservation(suggestion=int(s2.id), failed=True)])
        assert store.history_rewrites(eid) == 0  # additions only
        store.update_observation(
            eid, int(o1.id), {"failed": False, "values": [{"name": "loss", "value": 1.0}]}
        )
        store.delete_suggestion(eid, int(s3.id))
        store.delete_observation(eid, int(o1.id))
        store.update_experiment(eid, {"name": "renamed"})
        assert store.history_rewrites(eid) == 4
    finally:
        store.close()
