"""The multitask engine (`engine/_multitask.py`): cheap tasks explore first, the full-cost
task takes over by the end, the study learns from each observation's rank within its
own task; and the service's budget check counts task costs (raw HTTP)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from sigopt_service.best import cost_units
from sigopt_service.engine import Engine
from sigopt_service.engine._multitask import full_cost_share, task_scores
from sigopt_service.models import Metric, MetricEvaluation, Objective, Observation, Task
from sigopt_service.store import InMemoryStore, NewObservation
from sigopt_service.usecases import suggest_and_store
from sigopt_service.validation import validate_experiment_create
from tests.sigopt_service.api_cases import call

TASKS = [{"name": "cheap", "cost": 0.1}, {"name": "full", "cost": 1.0}]
BODY: dict[str, Any] = {
    "name": "mt",
    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0.0, "max": 1.0}}],
    "metrics": [{"name": "y", "objective": "minimize"}],
    "tasks": TASKS,
    "observation_budget": 20,
}


def run_to_budget(seed: int) -> list[Task]:
    """The tasks of every suggestion of one sequential run to the end of the budget."""
    store = InMemoryStore()
    experiment = store.create_experiment(validate_experiment_create(BODY))
    engine = Engine(store, seed=seed)
    spent, tasks = Decimal(0), []
    while spent < 20:
        s = suggest_and_store(engine, store, experiment)
        assert s.task is not None
        value = (float(s.assignments["x"]) - 0.3) ** 2 + (0.2 if s.task.cost < 1 else 0.0)
        new = NewObservation(suggestion=int(s.id), values=[MetricEvaluation(name="y", value=value)])
        engine.observed(experiment, store.create_observations(int(experiment.id), [new]))
        spent += cost_units(s.task)
        tasks.append(s.task)
    return tasks


class TestSchedule:
    def test_cheap_first_full_cost_last(self) -> None:
        tasks = run_to_budget(seed=3)
        costs = [t.cost for t in tasks]
        spent = 0.0
        for cost in costs:
            if spent < 0.2 * 20:  # before the ramp: only the cheap task
                assert cost == 0.1
            spent += cost
        assert costs[-3:] == [1.0, 1.0, 1.0]  # the end confirms at full cost
        full = sum(c for c in costs if c == 1.0)
        assert abs(full / sum(costs) - full_cost_share(1.0)) < 0.1

    def test_the_same_history_gives_the_same_tasks(self) -> None:
        assert [t.name for t in run_to_budget(seed=5)] == [t.name for t in run_to_budget(seed=5)]

    def test_full_cost_share_is_the_ramps_integral(self) -> None:
        assert full_cost_share(0.1) == 0.0
        assert full_cost_share(0.4) == pytest.approx(0.2**2 / (2 * 0.4))
        assert full_cost_share(1.0) == pytest.approx(0.6)


class TestScores:
    def test_each_task_is_ranked_on_its_own(self) -> None:
        metric = Metric(name="y", objective=Objective.MINIMIZE)
        cheap, full = Task(name="c", cost=0.1), Task(name="f", cost=1.0)

        def obs(i: int, value: float | None, task: Task) -> Observation:
            values = [] if value is None else [MetricEvaluation(name="y", value=value)]
            return Observation(
                id=str(i), experiment="1", values=values, failed=value is None, task=task
            )

        # Cheap values are all far above the full-cost ones: raw values would rank every
        # cheap observation worst; within its task, the best cheap one is the best.
        scores = task_scores(
            [
                obs(1, 10.0, cheap),
                obs(2, 11.0, cheap),
                obs(3, 1.0, full),
                obs(4, 0.5, full),
                obs(5, None, full),
            ],
            metric,
        )
        assert scores == {1: 0.75, 2: 0.25, 3: 0.25, 4: 0.75}


@pytest.mark.both_stores
class TestBudgetCheck:
    async def test_within_budget_counts_task_costs(
        self, http: aiohttp.ClientSession, service_url: str
    ) -> None:
        """Suggestions are made while observations plus open suggestions consume less
        than the budget, each costing its task's cost; then 409 `budget_reached`."""
        status, created = await call(
            http, "POST", f"{service_url}/v1/experiments", {**BODY, "observation_budget": 2}
        )
        assert status == 200, created
        url = f"{service_url}/v1/experiments/{created['id']}/suggestions?within_budget=true"
        held = Decimal(0)
        for _ in range(30):
            status, suggestion = await call(http, "POST", url, {})
            if status == 409:
                break
            assert status == 200, suggestion
            assert held < 2  # it was made: before it, the budget was not yet held
            held += Decimal(repr(suggestion["task"]["cost"]))
        assert status == 409 and suggestion["code"] == "budget_reached"
        assert held >= 2
