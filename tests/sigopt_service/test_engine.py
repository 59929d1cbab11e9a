"""The optimizer engine: assignment types, grid/random samplers, pending points, rebuilds."""

from __future__ import annotations

import importlib.util
import math
import statistics
from collections import Counter
from typing import Any

import optuna
import pytest
import structlog
from optuna.samplers import GPSampler
from optuna.trial import TrialState

import sigopt_service.engine._model as model_module
import sigopt_service.engine.engine as engine_module
from benchmarks.functions import TestFunction, branin, hartmann6
from benchmarks.quality import experiment_for, run_engine
from sigopt_service.engine import Engine
from sigopt_service.errors import InvalidRequest, StoreError
from sigopt_service.models import (
    Experiment,
    ExperimentType,
    Metric,
    MetricEvaluation,
    Observation,
    Parameter,
    ParameterType,
    Suggestion,
)
from sigopt_service.store import InMemoryStore, NewExperiment, NewObservation
from sigopt_service.usecases import suggest_and_store


def categories(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "enum_index": i} for i, n in enumerate(names, start=1)]


MIXED = [
    {"name": "x", "type": "double", "bounds": {"min": -2.0, "max": 3.0}},
    {"name": "lr", "type": "double", "bounds": {"min": 1e-5, "max": 1e-1}, "transformation": "log"},
    {"name": "n", "type": "int", "bounds": {"min": 1, "max": 8}},
    {"name": "opt", "type": "categorical", "categorical_values": categories("adam", "sgd", "rms")},
    {"name": "bs", "type": "int", "grid": [16, 64, 32]},
    {"name": "wd", "type": "double", "grid": [0.1, 0.0, 0.01]},
]


def make_experiment(
    store: InMemoryStore,
    parameters: list[dict[str, Any]] | None = None,
    *,
    type: str = "offline",
    metrics: list[dict[str, Any]] | None = None,
) -> Experiment:
    return store.create_experiment(
        NewExperiment.model_validate(
            {
                "name": "test",
                "type": type,
                "parameters": MIXED if parameters is None else parameters,
                "metrics": metrics or [{"name": "loss", "objective": "minimize"}],
            }
        )
    )


def observe(
    engine: Engine,
    store: InMemoryStore,
    experiment: Experiment,
    suggestion: Suggestion,
    value: float | None,
    *,
    allow_duplicates: bool = False,
) -> list[Observation]:
    """Report one suggestion (None means failed) the way the app does: commit, then tell."""
    if value is None:
        new = NewObservation(suggestion=int(suggestion.id), failed=True)
    else:
        name = experiment.metrics[0].name
        new = NewObservation(
            suggestion=int(suggestion.id), values=[MetricEvaluation(name=name, value=value)]
        )
    observations = store.create_observations(
        int(experiment.id), [new], allow_duplicates=allow_duplicates
    )
    engine.observed(experiment, observations)
    return observations


def study_of(engine: Engine, experiment: Experiment) -> optuna.Study:
    return engine._models[int(experiment.id)].study


def running_trials(engine: Engine, experiment: Experiment) -> list[optuna.trial.FrozenTrial]:
    """The study's pending points: one RUNNING trial per open suggestion."""
    trials = study_of(engine, experiment).get_trials(deepcopy=False)
    return [t for t in trials if t.state is TrialState.RUNNING]


def trial_summary(study: optuna.Study) -> list[tuple[str, str, str]]:
    """Order-free view of a study's trials (FAIL ones are discarded duplicates)."""
    trials = study.get_trials(deepcopy=False)
    return sorted(trial_summary_of([t for t in trials if t.state is not TrialState.FAIL]))


def sampler_after_one_round(
    engine: Engine, store: InMemoryStore, experiment: Experiment
) -> optuna.samplers.BaseSampler:
    """The sampler the engine picked, after one observed round."""
    suggestion = suggest_and_store(engine, store, experiment)
    observe(engine, store, experiment, suggestion, mixed_loss(suggestion.assignments))
    return study_of(engine, experiment).sampler


def trial_summary_of(trials: list[optuna.trial.FrozenTrial]) -> list[tuple[str, str, str]]:
    """State, params and values of each trial, comparable across studies.

    A failed trial's value is the lie (worst so far), which a rebuild may compute from
    more values than the incremental study had: only its failure is compared.
    """
    return [
        (
            t.state.name,
            repr(sorted(t.params.items())),
            "failed" if t.constraints.get("failed", 0.0) > 0 else repr(t.values),
        )
        for t in trials
    ]


def check_types(experiment: Experiment, assignments: dict[str, Any]) -> None:
    assert set(assignments) == {p.name for p in experiment.parameters}
    assert type(assignments["x"]) is float and -2.0 <= assignments["x"] <= 3.0
    assert type(assignments["lr"]) is float and 1e-5 <= assignments["lr"] <= 1e-1
    assert type(assignments["n"]) is int and 1 <= assignments["n"] <= 8
    assert assignments["opt"] in {"adam", "sgd", "rms"}
    assert type(assignments["bs"]) is int and assignments["bs"] in {16, 32, 64}
    assert type(assignments["wd"]) is float and assignments["wd"] in {0.0, 0.01, 0.1}


def mixed_loss(a: dict[str, Any]) -> float:
    return float(
        (a["x"] - 1) ** 2
        + abs(math.log10(a["lr"]) + 3)
        + a["n"] / 8
        + (a["opt"] != "sgd")
        + a["bs"] / 64
    )


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


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


class TestFailures:
    def test_failures_steer_away(self, store: InMemoryStore) -> None:
        """When x > 0.5 always fails, later suggestions mostly stay at x <= 0.5.

        Told as Optuna FAIL trials, which TPE ignores, the failures would teach nothing: in
        this very loop TPE then keeps sampling x > 0.5 (0 of the last 30 points feasible,
        10 seeds); told as infeasible trials about 90% are feasible.
        """
        params = [{"name": "x", "type": "double", "bounds": {"min": 0.0, "max": 1.0}}]
        experiment = make_experiment(store, params, metrics=[{"name": "y"}])  # maximize
        engine = Engine(store, seed=13)
        xs = []
        pending = [suggest_and_store(engine, store, experiment) for _ in range(2)]
        for _ in range(60):
            oldest = pending.pop(0)
            x = float(oldest.assignments["x"])
            xs.append(x)
            observe(engine, store, experiment, oldest, None if x > 0.5 else -((x - 0.3) ** 2))
            pending.append(suggest_and_store(engine, store, experiment))
        late = xs[-30:]
        assert sum(x <= 0.5 for x in late) >= 0.75 * len(late)

    def test_failed_trials_are_infeasible_not_ignored(self, store: InMemoryStore) -> None:
        """A failed observation is a COMPLETE trial with a violated `failed` constraint."""
        experiment = make_experiment(store)
        engine = Engine(store, seed=14)
        first, second = (
            suggest_and_store(engine, store, experiment),
            suggest_and_store(engine, store, experiment),
        )
        observe(engine, store, experiment, first, 4.0)
        observe(engine, store, experiment, second, None)
        trials = study_of(engine, experiment).get_trials()
        assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
        assert [t.constraints["failed"] for t in trials] == [0.0, 1.0]
        assert trials[1].value == 4.0  # the lie: worst value seen so far


class TestSamplerChoice:
    def test_gp_without_torch_falls_back_to_tpe(self, store: InMemoryStore) -> None:
        """Asking for the GP where torch is missing logs it and uses TPE."""
        if importlib.util.find_spec("torch") is not None:
            pytest.skip("torch is installed")
        experiment = make_experiment(store)
        engine = Engine(store, seed=15, use_gp=True)
        with structlog.testing.capture_logs() as logs:
            suggest_and_store(engine, store, experiment)
        assert any(e["event"] == "gp_unavailable" for e in logs)
        sampler = study_of(engine, experiment).sampler
        assert isinstance(sampler, optuna.samplers.TPESampler)

    def test_gp_failing_at_runtime_falls_back_to_tpe(
        self, store: InMemoryStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A GP that raises once past its start-up hands the experiment over to TPE."""
        if importlib.util.find_spec("torch") is not None:
            pytest.skip("torch is installed")
        # Pretend torch is importable: the GPSampler is built and fails when it samples.
        monkeypatch.setattr(model_module, "_torch_available", lambda: True)
        experiment = make_experiment(store)
        engine = Engine(store, seed=15)
        assert isinstance(sampler_after_one_round(engine, store, experiment), GPSampler)
        with structlog.testing.capture_logs() as logs:
            for _ in range(12):
                suggestion = suggest_and_store(engine, store, experiment)
                observe(engine, store, experiment, suggestion, mixed_loss(suggestion.assignments))
        assert [e["event"] for e in logs].count("gp_failed") == 1
        assert isinstance(study_of(engine, experiment).sampler, optuna.samplers.TPESampler)
        assert store.observation_count(int(experiment.id)) == 13

    def test_two_metrics_make_a_multi_objective_study(self, store: InMemoryStore) -> None:
        """Two optimized metrics give two directions; store metrics are not objectives."""
        metrics = [
            {"name": "acc", "objective": "maximize"},
            {"name": "cost", "objective": "minimize"},
            {"name": "note", "strategy": "store"},
        ]
        experiment = make_experiment(store, metrics=metrics)
        engine = Engine(store, seed=16)
        for i in range(15):
            suggestion = suggest_and_store(engine, store, experiment)
            values = [
                MetricEvaluation(name="acc", value=float(suggestion.assignments["x"])),
                MetricEvaluation(name="cost", value=float(suggestion.assignments["n"])),
                MetricEvaluation(name="note", value=float(i)),
            ]
            new = NewObservation(suggestion=int(suggestion.id), values=values)
            engine.observed(experiment, store.create_observations(int(experiment.id), [new]))
        study = study_of(engine, experiment)
        assert study.directions == [
            optuna.study.StudyDirection.MAXIMIZE,
            optuna.study.StudyDirection.MINIMIZE,
        ]
        assert all(len(t.values) == 2 for t in study.get_trials(states=[TrialState.COMPLETE]))
        check_types(experiment, suggest_and_store(engine, store, experiment).assignments)

    def test_constraint_metric_becomes_a_constraint(self, store: InMemoryStore) -> None:
        """A constraint metric's threshold turns into an Optuna constraint (<= 0 feasible)."""
        metrics: list[dict[str, Any]] = [
            {"name": "acc", "objective": "maximize"},
            {"name": "mem", "objective": "minimize", "strategy": "constraint", "threshold": 4},
        ]
        experiment = make_experiment(store, metrics=metrics)
        engine = Engine(store, seed=17)
        suggestion = suggest_and_store(engine, store, experiment)
        values = [MetricEvaluation(name="acc", value=0.5), MetricEvaluation(name="mem", value=6)]
        new = NewObservation(suggestion=int(suggestion.id), values=values)
        engine.observed(experiment, store.create_observations(int(experiment.id), [new]))
        (trial,) = study_of(engine, experiment).get_trials()
        assert trial.constraints == {"failed": 0.0, "metric:mem": 2.0}


@pytest.mark.slow
class TestQuality:
    @pytest.mark.parametrize(
        ("function", "budget", "n_seeds"), [(branin, 40, 20), (hartmann6, 60, 8)]
    )
    def test_beats_random_search(self, function: TestFunction, budget: int, n_seeds: int) -> None:
        """With 4 open suggestions, the default engine beats random search (Mann-Whitney).

        Measured: Branin median best 0.676 vs 1.285 (p = 0.0067, 20 seeds); Hartmann6
        -2.801 vs -2.033 (p = 0.0035, 8 seeds). TPE's edge on Branin at 40 evaluations is
        modest (p = 0.48 on seeds 0-7, 0.0002 on 40 seeds), hence 20 seeds there.
        """
        from scipy.stats import mannwhitneyu

        best: dict[str, list[float]] = {}
        for engine_type in ("offline", "random"):
            best[engine_type] = [
                run_engine(
                    experiment_for(function),
                    function,
                    engine_type=engine_type,
                    open_suggestions=4,
                    budget=budget,
                    seed=seed,
                )[-1]
                for seed in range(n_seeds)
            ]
        result = mannwhitneyu(best["offline"], best["random"], alternative="less")
        assert result.pvalue < 0.05, (best, result)
        assert statistics.median(best["offline"]) < statistics.median(best["random"])


class FailingOnceStore(InMemoryStore):
    """Fails the next `create_suggestion`, as a disk error would."""

    fail_next = False

    def create_suggestion(self, *args: Any, **kwargs: Any) -> Any:
        if self.fail_next:
            self.fail_next = False
            raise StoreError("disk I/O error")
        return super().create_suggestion(*args, **kwargs)


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
