"""Issue 15 item 5: multitask experiments (`tasks`), through the official client on both
stores, as sigopt-server's `test/integration/v1/features/multitask_test.py` drives them:
create-time rules, the task of suggestions, observations and queued suggestions, best
assignments of the full-cost task only, and the budget consumed in cost."""

from __future__ import annotations

from typing import Any

import pytest
from sigopt import Connection

from tests.sigopt_service.api_cases import refused_body as refused

META: dict[str, Any] = {
    "name": "multitask experiment",
    "parameters": [
        {"name": "a", "type": "int", "bounds": {"min": 1, "max": 50}},
        {"name": "b", "type": "double", "bounds": {"min": -50, "max": 0}},
        {"name": "c", "type": "categorical", "categorical_values": [{"name": "d"}, {"name": "e"}]},
    ],
    "tasks": [
        {"name": "cheapest", "cost": 0.1},
        {"name": "cheaper", "cost": 0.3},
        {"name": "expensive", "cost": 1.0},
    ],
    "observation_budget": 60,
}
POINT = {"a": 3, "b": -2.5, "c": "d"}


pytestmark = pytest.mark.both_stores


@pytest.fixture
def experiment_id(conn: Connection) -> str:
    return str(conn.experiments().create(**META).id)


class TestCreate:
    def test_tasks_are_kept_costliest_first(self, conn: Connection) -> None:
        e = conn.experiments().create(**META)
        assert [(t.name, t.cost) for t in e.tasks] == [
            ("expensive", 1.0),
            ("cheaper", 0.3),
            ("cheapest", 0.1),
        ]
        assert e.to_json()["tasks"][0] == {"object": "task", "name": "expensive", "cost": 1.0}
        assert conn.experiments(e.id).fetch().tasks == e.tasks

    def test_no_tasks_is_null(self, conn: Connection) -> None:
        e = conn.experiments().create(**{**META, "tasks": []})
        assert e.tasks is None

    @pytest.mark.parametrize(
        ("tasks", "field", "fragment"),
        [
            ([{"name": "only", "cost": 1.0}], "tasks", "at least 2 tasks"),
            ([{"name": "t"}, {"name": "u", "cost": 1}], "tasks[0].cost", "Missing"),
            ([{"cost": 0.3}, {"name": "u", "cost": 1}], "tasks[0].name", "Missing"),
            ([{"name": "t", "cost": 1}, {"name": "t", "cost": 0.3}], "tasks[1].name", "names"),
            (
                [{"name": "t", "cost": 0.3}, {"name": "u", "cost": 0.3}, {"name": "v", "cost": 1}],
                "tasks[1].cost",
                "costs must be distinct",
            ),
            ([{"name": "t", "cost": 0.5}, {"name": "u", "cost": 0.3}], "tasks", "cost == 1"),
            ([{"name": "t", "cost": 1}, {"name": "u", "cost": 0.0}], "tasks[1].cost", "positive"),
            ([{"name": "t", "cost": 1}, {"name": "u", "cost": -0.1}], "tasks[1].cost", "positive"),
            ([{"name": "t", "cost": 1}, {"name": "u", "cost": 1.5}], "tasks[1].cost", "positive"),
            ([{"name": "t", "cost": 1}, {"name": "u", "cost": 0.5, "x": 1}], "tasks[1].x", "x"),
        ],
    )
    def test_bad_tasks_are_a_400_naming_the_key(
        self, conn: Connection, tasks: list[dict[str, Any]], field: str, fragment: str
    ) -> None:
        body = refused(lambda: conn.experiments().create(**{**META, "tasks": tasks}))
        assert body["field"] == field
        assert fragment in body["message"]

    @pytest.mark.parametrize(
        ("change", "field", "fragment"),
        [
            ({"observation_budget": None}, "observation_budget", "required"),
            (
                {
                    "metrics": [
                        {"name": "m"},
                        {"name": "n", "strategy": "constraint", "threshold": 1},
                    ]
                },
                "tasks",
                "constraint metrics",
            ),
            ({"num_solutions": 3}, "num_solutions", "cannot be multitask"),
        ],
    )
    def test_what_a_multitask_experiment_cannot_be(
        self, conn: Connection, change: dict[str, Any], field: str, fragment: str
    ) -> None:
        body = {k: v for k, v in {**META, **change}.items() if v is not None}
        refusal = refused(lambda: conn.experiments().create(**body))
        assert refusal["field"] == field
        assert fragment in refusal["message"]

    def test_two_optimized_metrics_are_refused(self, conn: Connection) -> None:
        body = {**META, "metrics": [{"name": "m"}, {"name": "n"}], "observation_budget": 9}
        assert (
            "multiple optimized metrics"
            in refused(lambda: conn.experiments().create(**body))["message"]
        )

    def test_tasks_cannot_be_updated(self, conn: Connection, experiment_id: str) -> None:
        assert conn.experiments(experiment_id).update(observation_budget=100).observation_budget
        body = refused(lambda: conn.experiments(experiment_id).update(tasks=META["tasks"]))
        assert body["field"] == "tasks"
        assert "cannot be updated" in body["message"]


class TestSuggestionsAndObservations:
    def test_cycle(self, conn: Connection, experiment_id: str) -> None:
        s = conn.experiments(experiment_id).suggestions().create()
        assert s.task.name in {"cheapest", "cheaper", "expensive"}
        assert s.to_json()["task"]["object"] == "task"
        o = (
            conn.experiments(experiment_id)
            .observations()
            .create(suggestion=s.id, values=[{"value": 0.1}])
        )
        assert o.task == s.task
        assert conn.experiments(experiment_id).observations(o.id).fetch().task == s.task

    def test_observations_by_assignments_name_their_task(
        self, conn: Connection, experiment_id: str
    ) -> None:
        observations = conn.experiments(experiment_id).observations()
        full = observations.create(assignments=POINT, values=[{"value": 1}], task="expensive")
        assert (full.task.name, full.task.cost) == ("expensive", 1.0)
        as_object = observations.create(
            assignments=POINT, values=[{"value": 1}], task={"name": "cheaper", "cost": 0.3}
        )
        assert as_object.task.name == "cheaper"
        assert (
            refused(lambda: observations.create(assignments=POINT, values=[{"value": 1}]))["field"]
            == "task"
        )
        assert (
            "No task named cheapy"
            in refused(
                lambda: observations.create(assignments=POINT, values=[{"value": 1}], task="cheapy")
            )["message"]
        )
        s = conn.experiments(experiment_id).suggestions().create()
        assert (
            refused(
                lambda: observations.create(
                    suggestion=s.id, values=[{"value": 1}], task="expensive"
                )
            )["field"]
            == "task"
        )
        assert (
            "`assignments`+`task`"
            in refused(lambda: observations.create(values=[{"value": 1}], task="expensive"))[
                "message"
            ]
        )

    def test_batch_observations_carry_tasks(self, conn: Connection, experiment_id: str) -> None:
        created = (
            conn.experiments(experiment_id)
            .observations()
            .create_batch(
                observations=[
                    {"assignments": POINT, "values": [{"value": 1}], "task": "cheapest"},
                    {"assignments": POINT, "values": [{"value": 2}], "task": "expensive"},
                ]
            )
        )
        assert [o.task.name for o in created.iterate_pages()] == ["cheapest", "expensive"]

    def test_user_suggestions_need_assignments_and_task(
        self, conn: Connection, experiment_id: str
    ) -> None:
        suggestions = conn.experiments(experiment_id).suggestions()
        s = suggestions.create(assignments=POINT, task="cheaper")
        assert (s.assignments.to_json(), s.task.name) == (POINT, "cheaper")
        assert refused(lambda: suggestions.create(assignments=POINT))["field"] == "task"
        assert refused(lambda: suggestions.create(task="cheaper"))["field"] == "assignments"
        assert (
            refused(lambda: suggestions.create(assignments=POINT, task="cheapy"))["field"] == "task"
        )

    def test_queued_suggestions_carry_their_task(
        self, conn: Connection, experiment_id: str
    ) -> None:
        experiment = conn.experiments(experiment_id)
        queued = experiment.queued_suggestions().create(assignments=POINT, task="cheapest")
        assert queued.task.name == "cheapest"
        served = experiment.suggestions().create()
        assert (served.assignments.to_json(), served.task.name) == (POINT, "cheapest")
        assert (
            refused(lambda: experiment.queued_suggestions().create(assignments=POINT))["field"]
            == "task"
        )

    def test_observation_updates_move_tasks_as_sigopt_allows(
        self, conn: Connection, experiment_id: str
    ) -> None:
        experiment = conn.experiments(experiment_id)
        s = experiment.suggestions().create()
        o = experiment.observations().create(suggestion=s.id, values=[{"value": 0.1}])
        for body in (
            {"task": "cheaper"},
            {"suggestion": s.id, "task": "cheaper"},
            {"suggestion": None, "assignments": POINT},
        ):
            refused(lambda body=body: experiment.observations(o.id).update(**body))
        moved = experiment.observations(o.id).update(
            suggestion=None, assignments=POINT, task="cheaper", values=[{"value": 0.4}]
        )
        assert (moved.suggestion, moved.task.name) == (None, "cheaper")
        retasked = experiment.observations(o.id).update(task="expensive")
        assert retasked.task.name == "expensive"
        back = experiment.observations(o.id).update(suggestion=s.id, assignments=None)
        assert back.task == s.task

    def test_sort_by_task(self, conn: Connection, experiment_id: str) -> None:
        observations = conn.experiments(experiment_id).observations()
        for task in ("expensive", "cheapest", "cheaper"):
            observations.create(assignments=POINT, values=[{"value": 1}], task=task)
        listed = observations.fetch(sort="task", ascending=True).iterate_pages()
        assert [o.task.name for o in listed] == ["cheapest", "cheaper", "expensive"]


class TestBestAndBudget:
    def test_best_assignments_are_full_cost_only(
        self, conn: Connection, experiment_id: str
    ) -> None:
        experiment = conn.experiments(experiment_id)
        s1 = experiment.suggestions().create()
        cheap = experiment.suggestions().create(assignments=s1.assignments, task="cheapest")
        experiment.observations().create(suggestion=cheap.id, values=[{"value": 0.9}])
        assert experiment.best_assignments().fetch().count == 0
        assert experiment.fetch().progress.best_observation is None
        full = experiment.suggestions().create(assignments=s1.assignments, task="expensive")
        experiment.observations().create(suggestion=full.id, values=[{"value": 0.5}])
        best = experiment.best_assignments().fetch()
        assert best.count == 1
        assert best.data[0].values[0].value == 0.5
        assert best.data[0].to_json()["task"] == "expensive"  # a name, as sigopt-server
        assert experiment.fetch().progress.best_observation.values[0].value == 0.5

    def test_budget_consumed_is_the_sum_of_task_costs(
        self, conn: Connection, experiment_id: str
    ) -> None:
        observations = conn.experiments(experiment_id).observations()
        for task in ["cheapest"] * 10 + ["cheaper", "expensive"]:
            observations.create(assignments=POINT, values=[{"value": 1}], task=task)
        observations.create(assignments=POINT, failed=True, task="cheaper")  # failures count
        progress = conn.experiments(experiment_id).fetch().progress
        assert progress.observation_count == 13
        # Summed in decimal: ten of 0.1 are exactly 1.
        assert progress.observation_budget_consumed == 2.6
