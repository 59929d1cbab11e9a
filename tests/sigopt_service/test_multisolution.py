"""Issue 15 item 4: multisolution experiments (`num_solutions: k`), through the official
client on both stores, as sigopt-server's `multisolution_test.py` drives them: the
create-time rules, and `best_assignments` returning k good observations spread over the
space (k-center clustering over the top fifth, `engine/solutions.py`)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from sigopt import Connection

from sigopt_service.engine.solutions import distances, k_center
from tests.sigopt_service.api_cases import refused_body as refused

META: dict[str, Any] = {
    "name": "multiopt experiment",
    "metrics": [{"name": "profit"}],
    "observation_budget": 30,
    "parameters": [
        {"name": "a", "type": "int", "bounds": {"min": 1, "max": 50}},
        {"name": "b", "type": "double", "bounds": {"min": -50, "max": 0}},
        {"name": "c", "type": "categorical", "categorical_values": [{"name": "d"}, {"name": "e"}]},
    ],
    "num_solutions": 2,
}
BEST_A = {"a": 1, "b": 0, "c": "d"}
BEST_B = {"a": 50, "b": -50, "c": "e"}
BAD = {"a": 2, "b": -1, "c": "d"}


pytestmark = pytest.mark.both_stores


def random_point(rng: random.Random) -> dict[str, Any]:
    return {"a": rng.randint(1, 50), "b": rng.uniform(-50, 0), "c": rng.choice("de")}


class TestCreate:
    def test_num_solutions_is_kept(self, conn: Connection) -> None:
        e = conn.experiments().create(**META)
        assert (e.num_solutions, e.type, e.observation_budget) == (2, "offline", 30)

    def test_store_and_constraint_metrics_are_allowed(self, conn: Connection) -> None:
        metrics = [
            {"name": "optimization"},
            {"name": "constraint-1", "strategy": "constraint", "threshold": 0.2},
            {"name": "store", "strategy": "store"},
        ]
        e = conn.experiments().create(**{**META, "metrics": metrics, "num_solutions": 5})
        assert e.num_solutions == 5

    @pytest.mark.parametrize(
        ("change", "field", "fragment"),
        [
            ({"observation_budget": None}, "observation_budget", "more than one solution"),
            ({"num_solutions": 31}, "num_solutions", "larger than the number of solutions"),
            ({"num_solutions": -1}, "num_solutions", "num_solutions"),
            ({"num_solutions": "a"}, "num_solutions", "num_solutions"),
            (
                {"metrics": [{"name": "c", "strategy": "constraint", "threshold": 0.2}]},
                "num_solutions",
                "exactly one optimized metric",
            ),
            (
                {"metrics": [{"name": "o", "threshold": 0.2}]},
                "metrics[0].threshold",
                "Thresholds",
            ),
            (
                {"tasks": [{"name": "cheap", "cost": 0.1}, {"name": "full", "cost": 1}]},
                "num_solutions",
                "cannot be multitask",
            ),
            (
                {
                    "conditionals": [{"name": "x", "values": ["1", "5"]}],
                    "parameters": [
                        {"name": "a", "type": "int", "bounds": {"min": 1, "max": 50}},
                        {
                            "name": "b",
                            "type": "double",
                            "bounds": {"min": -50, "max": 0},
                            "conditions": {"x": ["5"]},
                        },
                    ],
                },
                "num_solutions",
                "Conditional experiments cannot be run with multisolution",
            ),
        ],
    )
    def test_refused(
        self, conn: Connection, change: dict[str, Any], field: str, fragment: str
    ) -> None:
        body = {k: v for k, v in {**META, **change}.items() if v is not None}
        refusal = refused(lambda: conn.experiments().create(**body))
        assert refusal["field"] == field
        assert fragment in refusal["message"]

    def test_num_solutions_cannot_be_updated(self, conn: Connection) -> None:
        e = conn.experiments().create(**META)
        body = refused(lambda: conn.experiments(e.id).update(num_solutions=3))
        assert body["field"] == "num_solutions"
        assert "Number of solutions cannot be updated" in body["message"]


class TestBestAssignments:
    @pytest.mark.parametrize("objective", ["maximize", "minimize"])
    def test_the_far_best_one_joins_the_best(self, conn: Connection, objective: str) -> None:
        best, worst = (0.0, 1.0) if objective == "minimize" else (1.0, 0.0)
        metrics = [{"name": "profit", "objective": objective}]
        e = conn.experiments().create(**{**META, "metrics": metrics})
        observations = conn.experiments(e.id).observations()
        assert conn.experiments(e.id).best_assignments().fetch().count == 0
        observations.create(assignments=BEST_A, values=[{"value": best}])
        assert conn.experiments(e.id).best_assignments().fetch().count == 1
        rng = random.Random(7)
        for _ in range(2):  # duplicates of the best point: one of them is a solution
            observations.create(assignments=BEST_A, values=[{"value": best}])
        observations.create(assignments=BEST_B, values=[{"value": best}])
        for _ in range(21):
            observations.create(assignments=random_point(rng), values=[{"value": worst}])
        data = list(conn.experiments(e.id).best_assignments().fetch().iterate_pages())
        assert [d.values[0].value for d in data] == [best, best]
        assert sorted(d.assignments["a"] for d in data) == [1, 50]

    @pytest.mark.parametrize("k", [2, 7, 11])
    def test_k_solutions_best_first(self, conn: Connection, k: int) -> None:
        e = conn.experiments().create(**{**META, "num_solutions": k})
        observations = conn.experiments(e.id).observations()
        observations.create(assignments=BEST_A, values=[{"value": 1.0}])
        observations.create(assignments=BEST_B, values=[{"value": 2.0}])
        for _ in range(13):
            observations.create(assignments=BAD, values=[{"value": -1.0}])
        observations.create(assignments=BAD, failed=True)  # never a solution
        data = list(conn.experiments(e.id).best_assignments().fetch().iterate_pages())
        assert len(data) == min(k, 15)
        assert data[0].assignments.to_json() == BEST_B
        assert data[1].assignments.to_json() == BEST_A
        assert [d.values[0].value for d in data[2:]] == [-1.0] * (len(data) - 2)

    def test_best_observation_of_progress_is_still_the_one_best(self, conn: Connection) -> None:
        e = conn.experiments().create(**META)
        conn.experiments(e.id).observations().create(assignments=BEST_A, values=[{"value": 3}])
        assert conn.experiments(e.id).fetch().progress.best_observation.values[0].value == 3


class TestKCenter:
    def test_farthest_first_from_the_best(self) -> None:
        """Rows 0-2 sit together, 3 and 4 far apart: the centers are 0, then the far
        ones; each row joins its nearest center, each center its own cluster."""
        points = np.array([[0.0, 0.0], [0.01, 0.0], [0.0, 0.02], [1.0, 1.0], [1.0, 0.0]])
        centers, partition = k_center(points, 3)
        assert centers == [0, 3, 4]
        assert partition.tolist() == [0, 0, 0, 1, 2]

    def test_coinciding_points_still_make_k_clusters(self) -> None:
        points = np.zeros((5, 2))
        centers, partition = k_center(points, 3)
        assert len(set(centers)) == 3
        assert sorted(set(partition.tolist())) == [0, 1, 2]

    def test_distances_are_normalized(self) -> None:
        corner = distances(np.array([[0.0, 0.0]]), np.array([[1.0, 1.0]]))
        assert corner[0, 0] == pytest.approx(1.0)
