"""The engine's study cache: rebuilds, invalidation, failed writes, propose/accept/discard."""

from __future__ import annotations

from collections import Counter

import pytest
import structlog
from optuna.trial import TrialState

import sigopt_service.engine.engine as engine_module
from sigopt_service.engine import Engine
from sigopt_service.errors import StoreError
from sigopt_service.models import (
    Experiment,
    ExperimentType,
    Metric,
    MetricEvaluation,
    Parameter,
    ParameterType,
)
from sigopt_service.store import InMemoryStore, NewExperiment, NewObservation
from sigopt_service.usecases import suggest_and_store
from tests.sigopt_service.engine_helpers import (
    FailingOnceStore,
    check_types,
    make_experiment,
    mixed_loss,
    observe,
    running_trials,
    study_of,
    trial_summary,
    trial_summary_of,
)


class TestRebuild:
    def run_some(self, engine: Engine, store: InMemoryStore, experiment: Experiment) -> None:
        """20 rounds with 3 open suggestions, every fifth evaluation failing."""
        pending = [suggest_and_store(engine, store, experiment) for _ in range(3)]
        for i in range(20):
            oldest = pending.pop(0)
            value = None if i % 5 == 4 else mixed_loss(oldest.assignments)
            observe(engine, store, experiment, oldest, value)
            pending.append(suggest_and_store(engine, store, experiment))

    def test_second_engine_has_the_same_trials(self, store: InMemoryStore) -> None:
        """A new engine on the same store (a restart) rebuilds the very same study."""
        experiment = make_experiment(store)
        engine = Engine(store, seed=6)
        self.run_some(engine, store, experiment)
        restarted = Engine(store, seed=6)
        suggestion = suggest_and_store(restarted, store, experiment)
        rebuilt = study_of(restarted, experiment)
        original = study_of(engine, experiment)
        new_trial = rebuilt.get_trials(deepcopy=False)[-1]
        expected = sorted([*trial_summary(original), *trial_summary_of([new_trial])])
        assert trial_summary(rebuilt) == expected
        states = Counter(t.state for t in rebuilt.get_trials(deepcopy=False))
        assert states[TrialState.RUNNING] == 4  # three from before the restart, one new
        assert states[TrialState.COMPLETE] == 20
        assert suggestion.assignments not in [
            s.assignments for s in store.open_suggestions(int(experiment.id))[:-1]
        ]

    def test_invalidate_after_delete_drops_the_pending_point(self, store: InMemoryStore) -> None:
        """A deleted suggestion stops being a pending point once the engine is invalidated."""
        experiment = make_experiment(store)
        engine = Engine(store, seed=7)
        self.run_some(engine, store, experiment)
        victim = store.open_suggestions(int(experiment.id))[0]
        store.delete_suggestion(int(experiment.id), int(victim.id))
        engine.invalidate(int(experiment.id))
        suggest_and_store(engine, store, experiment)
        running = [t.params for t in running_trials(engine, experiment)]
        assert len(running) == 3
        assert victim.assignments not in running

    def test_least_recently_used_study_is_evicted(
        self, store: InMemoryStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Past the cache bound the idlest study is dropped, and rebuilt when used again."""
        monkeypatch.setattr(engine_module, "_MAX_CACHED_STUDIES", 2)
        engine = Engine(store, seed=7)
        first, second, third = (make_experiment(store) for _ in range(3))
        for experiment in (first, second, first, third):
            suggest_and_store(engine, store, experiment)
        assert set(engine._models) == {int(first.id), int(third.id)}
        suggest_and_store(engine, store, second)
        running = running_trials(engine, second)
        assert len(running) == 2

    def test_foreign_suggestion_triggers_rebuild(self, store: InMemoryStore) -> None:
        """An observation of a suggestion the study never saw rebuilds it instead of guessing."""
        experiment = make_experiment(store)
        engine, other = Engine(store, seed=8), Engine(store, seed=9)
        suggest_and_store(engine, store, experiment)
        foreign = suggest_and_store(other, store, experiment)
        with structlog.testing.capture_logs() as logs:
            observe(engine, store, experiment, foreign, 1.0)
        assert any(e["event"] == "study_inconsistent" for e in logs)
        suggest_and_store(engine, store, experiment)
        states = Counter(t.state for t in study_of(engine, experiment).get_trials())
        assert states == {TrialState.COMPLETE: 1, TrialState.RUNNING: 2}

    def test_user_given_and_duplicate_observations_count(self, store: InMemoryStore) -> None:
        """Observations by assignments and repeated observations each add a trial."""
        experiment = make_experiment(store)
        engine = Engine(store, seed=10)
        suggestion = suggest_and_store(engine, store, experiment)
        observe(engine, store, experiment, suggestion, 2.0)
        # A service configured as sigopt-server accepts a second one.
        observe(engine, store, experiment, suggestion, 3.0, allow_duplicates=True)
        given = dict(suggestion.assignments, x=99.0)  # bounds are not checked on input
        new = NewObservation(assignments=given, values=[MetricEvaluation(name="loss", value=1.0)])
        engine.observed(experiment, store.create_observations(int(experiment.id), [new]))
        trials = study_of(engine, experiment).get_trials(deepcopy=False)
        assert sorted(t.value for t in trials if t.value is not None) == [1.0, 2.0, 3.0]
        assert max(t.params["x"] for t in trials) == 3.0  # clipped to the bound
        study = study_of(engine, experiment)
        suggest_and_store(engine, store, experiment)
        assert study_of(engine, experiment) is study  # consistent: no rebuild needed

    def test_observation_update_needs_invalidate(self, store: InMemoryStore) -> None:
        """After an observation update and invalidate, the study holds the new value."""
        experiment = make_experiment(store)
        engine = Engine(store, seed=10)
        suggestion = suggest_and_store(engine, store, experiment)
        (observation,) = observe(engine, store, experiment, suggestion, 2.0)
        store.update_observation(
            int(experiment.id),
            int(observation.id),
            {"values": [MetricEvaluation(name="loss", value=5.0)]},
        )
        engine.invalidate(int(experiment.id))
        suggest_and_store(engine, store, experiment)
        values = [t.value for t in study_of(engine, experiment).get_trials() if t.value]
        assert values == [5.0]


class TestAfterAFailedWrite:
    """What the engine counted as pending for a suggestion that could not be stored is
    dropped: a grid point is suggested again, a TPE trial does not stay RUNNING."""

    def test_no_point_lost(self) -> None:
        store = FailingOnceStore()
        engine = Engine(store, seed=1)
        experiment = store.create_experiment(
            NewExperiment(
                name="g",
                type=ExperimentType.GRID,
                observation_budget=3,
                parameters=[Parameter(name="x", type=ParameterType.INT, grid=[1, 2, 3])],
                metrics=[Metric(name="m")],
            )
        )
        seen = [suggest_and_store(engine, store, experiment).assignments["x"]]
        store.fail_next = True
        with pytest.raises(StoreError):
            suggest_and_store(engine, store, experiment)
        seen += [suggest_and_store(engine, store, experiment).assignments["x"] for _ in range(2)]
        assert sorted(seen) == [1, 2, 3]

    def test_no_phantom_pending_trial(self) -> None:
        store = FailingOnceStore()
        engine = Engine(store, seed=1)
        experiment = make_experiment(store)
        suggest_and_store(engine, store, experiment)
        store.fail_next = True
        with pytest.raises(StoreError):
            suggest_and_store(engine, store, experiment)
        suggest_and_store(engine, store, experiment)
        running = running_trials(engine, experiment)
        assert len(running) == len(store.open_suggestions(int(experiment.id))) == 2


class TestProposeAcceptDiscard:
    """The engine proposes; the caller stores and tells it `accepted` or `discarded`."""

    def test_propose_writes_nothing(self, store: InMemoryStore) -> None:
        """A proposal is not a suggestion until the caller stores it."""
        experiment = make_experiment(store)
        engine = Engine(store, seed=21)
        proposal = engine.propose(experiment)
        assert proposal.experiment_id == int(experiment.id)
        assert store.suggestion_count(int(experiment.id)) == 0
        check_types(experiment, proposal.assignments)

    def test_accepted_maps_the_suggestion_to_its_pending_trial(self, store: InMemoryStore) -> None:
        """After `accepted`, observing the suggestion completes the very trial proposed."""
        experiment = make_experiment(store)
        engine = Engine(store, seed=22)
        proposal = engine.propose(experiment)
        suggestion = store.create_suggestion(int(experiment.id), proposal.assignments, None)
        engine.accepted(proposal, suggestion)
        (running,) = running_trials(engine, experiment)
        assert proposal.trial is not None
        assert running.params == proposal.trial.params
        with structlog.testing.capture_logs() as logs:
            observe(engine, store, experiment, suggestion, 1.0)
        assert not any(e["event"] == "study_inconsistent" for e in logs)
        states = Counter(t.state for t in study_of(engine, experiment).get_trials())
        assert states == {TrialState.COMPLETE: 1}

    def test_discarded_forgets_the_pending_point(self, store: InMemoryStore) -> None:
        """A discarded grid point is proposed again, as if never proposed."""
        params = [{"name": "a", "type": "int", "grid": [1, 2, 3]}]
        experiment = make_experiment(store, params, type="grid")
        engine = Engine(store)
        first = engine.propose(experiment)
        engine.discarded(first)
        assert engine.propose(experiment).assignments == first.assignments
