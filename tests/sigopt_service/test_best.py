"""Best observations (single metric, constraints, Pareto front) and the progress builder."""

from __future__ import annotations

import pytest

from sigopt_service.best import best_observations, metric_value, progress
from sigopt_service.models import (
    Bounds,
    Experiment,
    Metric,
    MetricEvaluation,
    MetricStrategy,
    Objective,
    Observation,
    Parameter,
    ParameterType,
)

_next_id = iter(range(1, 10_000))


def experiment(*metrics: Metric) -> Experiment:
    return Experiment(
        id="1",
        name="e",
        parameters=[Parameter(name="x", type=ParameterType.DOUBLE, bounds=Bounds(min=0, max=1))],
        metrics=list(metrics) or [Metric()],
    )


def obs(
    values: dict[str | None, float] | None = None, *, failed: bool = False, deleted: bool = False
) -> Observation:
    return Observation(
        id=str(next(_next_id)),
        experiment="1",
        assignments={"x": 0.5},
        values=[MetricEvaluation(name=k, value=v) for k, v in (values or {}).items()],
        failed=failed,
        deleted=deleted,
    )


def ids(observations: list[Observation]) -> list[str]:
    return [o.id for o in observations]


class TestSingleMetric:
    """One optimized metric yields at most one best observation."""

    @pytest.mark.parametrize(
        ("objective", "best_index"), [(Objective.MAXIMIZE, 1), (Objective.MINIMIZE, 2)]
    )
    def test_respects_objective(self, objective: Objective, best_index: int) -> None:
        """The highest value wins when maximizing and the lowest when minimizing."""
        e = experiment(Metric(name="y", objective=objective))
        history = [obs({"y": 1.0}), obs({"y": 3.0}), obs({"y": -2.0})]
        assert ids(best_observations(e, history)) == [history[best_index].id]

    def test_failed_deleted_and_valueless_excluded(self) -> None:
        """Failed, deleted and observations without the metric never win."""
        e = experiment(Metric(name="y"))
        history = [
            obs({"y": 1.0}),
            obs(failed=True),
            obs({"y": 9.0}, deleted=True),
            obs({"other": 50.0}),
        ]
        assert ids(best_observations(e, history)) == [history[0].id]
        assert best_observations(e, [obs(failed=True)]) == []
        assert best_observations(e, []) == []

    def test_tie_goes_to_oldest(self) -> None:
        """Equal values resolve to the lowest id."""
        e = experiment(Metric(name="y"))
        history = [obs({"y": 2.0}), obs({"y": 2.0})]
        assert ids(best_observations(e, list(reversed(history)))) == [history[0].id]

    def test_unnamed_metric(self) -> None:
        """A single unnamed metric matches a lone evaluation, named or not."""
        e = experiment()
        history = [obs({None: 1.0}), obs({None: 4.0})]
        assert ids(best_observations(e, history)) == [history[1].id]
        assert metric_value(e, history[0], e.metrics[0]) == 1.0

    def test_store_metric_is_ignored(self) -> None:
        """A stored metric neither decides the best nor constrains it."""
        e = experiment(
            Metric(name="y"), Metric(name="z", strategy=MetricStrategy.STORE, threshold=None)
        )
        history = [obs({"y": 1.0, "z": 100.0}), obs({"y": 2.0, "z": -100.0})]
        assert ids(best_observations(e, history)) == [history[1].id]


class TestConstraints:
    """Constraint metrics filter candidates by their threshold and direction."""

    def test_maximize_constraint_needs_at_least_threshold(self) -> None:
        """A maximize constraint keeps values >= threshold, the boundary included."""
        e = experiment(
            Metric(name="y"),
            Metric(name="c", strategy=MetricStrategy.CONSTRAINT, threshold=0.5),
        )
        history = [
            obs({"y": 10.0, "c": 0.4}),
            obs({"y": 5.0, "c": 0.5}),
            obs({"y": 3.0, "c": 0.9}),
            obs({"y": 20.0}),
        ]
        assert ids(best_observations(e, history)) == [history[1].id]

    def test_minimize_constraint_needs_at_most_threshold(self) -> None:
        """A minimize constraint keeps values <= threshold."""
        e = experiment(
            Metric(name="y", objective=Objective.MINIMIZE),
            Metric(
                name="c",
                strategy=MetricStrategy.CONSTRAINT,
                objective=Objective.MINIMIZE,
                threshold=1.0,
            ),
        )
        history = [obs({"y": -5.0, "c": 1.5}), obs({"y": 0.0, "c": 1.0})]
        assert ids(best_observations(e, history)) == [history[1].id]

    def test_nothing_feasible(self) -> None:
        """With no feasible observation the result is empty."""
        e = experiment(
            Metric(name="y"),
            Metric(name="c", strategy=MetricStrategy.CONSTRAINT, threshold=0.0),
        )
        assert best_observations(e, [obs({"y": 1.0, "c": -1.0})]) == []


class TestParetoFront:
    """Two optimized metrics yield the non-dominated set, sorted by id."""

    def test_front_max_max(self) -> None:
        """Dominated points drop; trade-offs and exact duplicates stay."""
        e = experiment(Metric(name="a"), Metric(name="b"))
        history = [
            obs({"a": 1.0, "b": 5.0}),  # front
            obs({"a": 2.0, "b": 2.0}),  # dominated by (3, 3)
            obs({"a": 3.0, "b": 3.0}),  # front
            obs({"a": 5.0, "b": 1.0}),  # front
            obs({"a": 3.0, "b": 3.0}),  # duplicate of a front point: stays
            obs({"a": 0.5, "b": 5.0}),  # dominated by (1, 5)
            obs({"a": 9.0, "b": 9.0}, failed=True),
        ]
        front = best_observations(e, list(reversed(history)))
        assert ids(front) == [history[i].id for i in (0, 2, 3, 4)]

    def test_front_respects_objectives(self) -> None:
        """Minimizing one metric flips which points dominate."""
        e = experiment(Metric(name="a"), Metric(name="b", objective=Objective.MINIMIZE))
        history = [
            obs({"a": 1.0, "b": 1.0}),  # front: lowest b
            obs({"a": 2.0, "b": 5.0}),  # front: highest a
            obs({"a": 1.0, "b": 4.0}),  # dominated by (1, 1)
        ]
        assert ids(best_observations(e, history)) == [history[0].id, history[1].id]

    def test_front_only_feasible(self) -> None:
        """Infeasible points neither join the front nor dominate feasible ones."""
        e = experiment(
            Metric(name="a"),
            Metric(name="b"),
            Metric(name="c", strategy=MetricStrategy.CONSTRAINT, threshold=0.0),
        )
        history = [
            obs({"a": 9.0, "b": 9.0, "c": -1.0}),
            obs({"a": 1.0, "b": 2.0, "c": 1.0}),
            obs({"a": 2.0, "b": 1.0, "c": 0.0}),
            obs({"a": 5.0, "c": 1.0}),
        ]
        assert ids(best_observations(e, history)) == [history[1].id, history[2].id]


class TestProgress:
    """progress() is a plain builder over what the app already loaded."""

    def test_single_metric_has_best(self) -> None:
        """Count, budget consumed, first, last and best are filled in."""
        first, last = obs({"y": 1.0}), obs({"y": 2.0})
        p = progress(experiment(Metric(name="y")), 2, first, last, last)
        assert p.observation_count == 2 and p.observation_budget_consumed == 2
        assert p.first_observation == first and p.last_observation == last
        assert p.best_observation == last

    def test_multi_metric_has_no_best(self) -> None:
        """With two optimized metrics best_observation stays None."""
        o = obs({"a": 1.0, "b": 1.0})
        p = progress(experiment(Metric(name="a"), Metric(name="b")), 1, o, o, o)
        assert p.best_observation is None

    def test_empty(self) -> None:
        """An experiment without observations has an empty progress."""
        p = progress(experiment(), 0, None, None, None)
        assert p.observation_count == 0 and p.first_observation is None
