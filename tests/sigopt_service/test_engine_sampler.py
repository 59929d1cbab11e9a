"""The engine's model: failures as infeasible, sampler choice, objectives, quality."""

from __future__ import annotations

import importlib.util
import statistics
from typing import Any

import optuna
import pytest
import structlog
from optuna.samplers import GPSampler
from optuna.trial import TrialState

import sigopt_service.engine._model as model_module
from benchmarks.functions import TestFunction, branin, hartmann6
from benchmarks.quality import experiment_for, run_engine
from sigopt_service.engine import Engine
from sigopt_service.models import MetricEvaluation
from sigopt_service.store import InMemoryStore, NewObservation
from sigopt_service.usecases import suggest_and_store
from tests.sigopt_service.engine_helpers import (
    check_types,
    make_experiment,
    mixed_loss,
    observe,
    sampler_after_one_round,
    study_of,
)


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
