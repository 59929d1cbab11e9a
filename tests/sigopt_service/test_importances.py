"""Parameter importances (`GET /v1/experiments/{id}/metric_importances`, PED-ANOVA over the
observations): none before enough observations, then one entry per optimized metric in
SigOpt's shape, ranking the parameter that decides the metric first, in either direction."""

from __future__ import annotations

import random

import pytest

from sigopt_service.models import Experiment, MetricEvaluation, Observation
from sigopt_service.usecases import MIN_IMPORTANCE_OBSERVATIONS
from sigopt_service.usecases._importances import metric_importances
from tests.sigopt_service.pages.fill import api, fill

PARAMETERS = [
    {"name": "decides", "type": "double", "bounds": {"min": 0, "max": 1}},
    {"name": "noise", "type": "double", "bounds": {"min": 1e-4, "max": 1}, "transformation": "log"},
    {
        "name": "kind",
        "type": "categorical",
        "categorical_values": [{"name": "a", "enum_index": 1}, {"name": "b", "enum_index": 2}],
    },
]


def experiment(*objectives: str) -> Experiment:
    return Experiment.model_validate(
        {
            "id": "1",
            "name": "e",
            "parameters": PARAMETERS,
            "metrics": [
                {"name": f"m{i}", "objective": o, "strategy": "optimize"}
                for i, o in enumerate(objectives)
            ],
        }
    )


def observations(count: int, *, failed_every: int = 0) -> list[Observation]:
    """m0 is large where `decides` is large; m1 small where `decides` is small."""
    rng = random.Random(3)
    out = []
    for i in range(count):
        d = rng.random()
        failed = bool(failed_every) and i % failed_every == 0
        out.append(
            Observation(
                id=str(i + 1),
                experiment="1",
                assignments={"decides": d, "noise": 10 ** rng.uniform(-4, 0), "kind": "ab"[i % 2]},
                values=[]
                if failed
                else [MetricEvaluation(name="m0", value=d), MetricEvaluation(name="m1", value=d)],
                failed=failed,
            )
        )
    return out


class TestEstimates:
    def test_none_before_enough_observations(self) -> None:
        few = observations(MIN_IMPORTANCE_OBSERVATIONS - 1)
        assert metric_importances(experiment("maximize"), few) == []
        # Failed observations do not count towards the minimum.
        assert metric_importances(experiment("maximize"), observations(12, failed_every=3)) == []

    @pytest.mark.parametrize("objective", ["maximize", "minimize"])
    def test_the_deciding_parameter_ranks_first(self, objective: str) -> None:
        [found] = metric_importances(experiment(objective), observations(200))
        assert found.metric == "m0"
        assert set(found.importances) == {"decides", "noise", "kind"}
        assert max(found.importances, key=found.importances.__getitem__) == "decides"
        assert sum(found.importances.values()) == pytest.approx(1.0)
        assert all(0 <= v <= 1 for v in found.importances.values())

    def test_a_constant_metric_ranks_no_parameter(self) -> None:
        """Where no parameter makes a difference, each importance is 0 (Optuna's own
        normalization would share 1 out equally, which reads as "all matter")."""
        flat = [
            o.model_copy(update={"values": [MetricEvaluation(name="m0", value=1.0)]})
            for o in observations(30)
        ]
        [found] = metric_importances(experiment("maximize"), flat)
        assert found.importances == {"decides": 0.0, "noise": 0.0, "kind": 0.0}

    def test_every_parameter_of_a_conditional_experiment(self) -> None:
        """Each parameter any point holds has an importance (and the conditional too),
        though the first point holds only some of them."""
        conditional = Experiment.model_validate(
            {
                "id": "1",
                "name": "e",
                "parameters": [
                    {"name": "a", "type": "double", "bounds": {"min": 0, "max": 1}},
                    {
                        "name": "b",
                        "type": "double",
                        "bounds": {"min": 0, "max": 1},
                        "conditions": {"x": ["on"]},
                    },
                ],
                "conditionals": [{"name": "x", "values": ["off", "on"]}],
                "metrics": [{"name": "m", "objective": "maximize"}],
            }
        )
        rng = random.Random(5)
        points = []
        for i in range(30):
            on = i % 3 != 0  # the first point is "off": it holds `a` alone
            assignments = {"x": "on" if on else "off", "a": rng.random()}
            if on:
                assignments["b"] = rng.random()
            value = assignments.get("b", 0.0) + 0.1 * assignments["a"]
            points.append(
                Observation(
                    id=str(i + 1),
                    experiment="1",
                    assignments=assignments,
                    values=[MetricEvaluation(name="m", value=value)],
                )
            )
        [found] = metric_importances(conditional, points)
        assert set(found.importances) == {"x", "a", "b"}
        assert sum(found.importances.values()) == pytest.approx(1.0)

    def test_one_entry_per_optimized_metric(self) -> None:
        found = metric_importances(experiment("maximize", "minimize"), observations(50))
        assert [f.metric for f in found] == ["m0", "m1"]


class TestResource:
    def test_sigopt_shape_over_http(self, threaded_service_url: str) -> None:
        """Empty until enough completed observations, then SigOpt's paginated list."""
        few = fill(threaded_service_url, 5, name="few")
        url = f"{threaded_service_url}/v1/experiments/{few.id}/metric_importances"
        assert api("GET", url).json() == {
            "object": "pagination",
            "count": 0,
            "data": [],
            "paging": {"before": None, "after": None},
        }
        many = fill(threaded_service_url, 40, name="many")
        body = api("GET", f"{threaded_service_url}/v1/experiments/{many.id}/metric_importances")
        [entry] = body.json()["data"]
        assert entry["object"] == "metric_importances" and entry["metric"] == "accuracy"
        assert set(entry["importances"]) == {"k", "lr", "n", "x"}
        missing = api("GET", f"{threaded_service_url}/v1/experiments/999/metric_importances")
        assert missing.status_code == 404
