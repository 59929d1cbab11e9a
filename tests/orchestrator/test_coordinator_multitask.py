"""The coordinator on a multitask experiment (issue 15 item 5), against the real service:
the budget is spent in cost, so the run ends when observations consume the budget, as
the service counts it; each evaluation sees its suggestion's task."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestrator.client import ServiceClient
from orchestrator.coordinator import Coordinator, CoordinatorSettings, ExitReason
from orchestrator.errors import BudgetExhausted
from sigopt_service.config import ServiceConfig
from tests.orchestrator.conftest import experiment_body
from workers.async_function import AsyncFunctionWorker
from workers.base import Evaluation

TASKS = [
    {"name": "cheap", "cost": 0.1},
    {"name": "half", "cost": 0.5},
    {"name": "full", "cost": 1.0},
]


@pytest.fixture(params=["sqlite", "memory"])
def service_config(request: pytest.FixtureRequest, tmp_path: Path) -> ServiceConfig:
    db = tmp_path / "service.db" if request.param == "sqlite" else None
    return ServiceConfig(port=0, db=db, seed=4)


class Seen:
    """What the objective was handed, per suggestion id."""

    def __init__(self) -> None:
        self.tasks: dict[str, tuple[str, float]] = {}

    async def objective(self, assignments: dict[str, Any], evaluation: Evaluation) -> float:
        assert evaluation.task is not None
        self.tasks[evaluation.id] = (evaluation.task.name, evaluation.task.cost)
        await anyio.sleep(0.001 * float(assignments["x"]))  # interleave the slots
        return float(assignments["x"]) * evaluation.task.cost


async def run_multitask(client: ServiceClient, budget: int, type_: str) -> tuple[str, Seen, Any]:
    body = {**experiment_body(budget, type_=type_), "tasks": TASKS}
    eid = (await client.create_experiment(body)).id
    seen = Seen()
    coordinator = Coordinator(
        client,
        AsyncFunctionWorker(seen.objective),
        experiment_id=eid,
        settings=CoordinatorSettings(workers=4, run_id="mt-run"),
    )
    with anyio.fail_after(60):
        summary = await coordinator.run()
    return eid, seen, (summary, coordinator.ledger)


@pytest.mark.parametrize("type_", ["offline", "random"])
async def test_the_run_ends_at_the_cost_budget(client: ServiceClient, type_: str) -> None:
    """1. The run ends for its budget. 2. Its observations consume at least the budget, and
    less than the budget plus the dearest task: the last suggestion was made while less
    than the budget was consumed or held, as the service grants them. 3. The ledger and
    the service agree to the last decimal. 4. Nothing is left open, and the service makes
    no more suggestions within the budget."""
    budget = 6
    eid, _, (summary, ledger) = await run_multitask(client, budget, type_)
    assert summary.reason is ExitReason.BUDGET_REACHED
    observations = await client.observations(eid)
    consumed = sum((Decimal(repr(o.task.cost)) for o in observations if o.task), Decimal(0))
    assert len({o.task.name for o in observations if o.task}) >= 2  # a mix of tasks
    assert budget <= consumed < budget + 1
    experiment = await client.get_experiment(eid)
    assert experiment.progress is not None
    assert Decimal(repr(experiment.progress.observation_budget_consumed)) == consumed
    assert ledger.observed == consumed
    assert await client.open_suggestions(eid) == []
    with pytest.raises(BudgetExhausted):
        await client.suggest(eid, within_budget=True)


async def test_each_evaluation_sees_its_suggestions_task(client: ServiceClient) -> None:
    eid, seen, _ = await run_multitask(client, 3, "offline")
    observations = await client.observations(eid)
    assert observations
    for o in observations:
        assert o.task is not None and o.suggestion is not None
        assert seen.tasks[o.suggestion] == (o.task.name, o.task.cost)


async def test_a_resumed_run_counts_what_the_first_spent(client: ServiceClient) -> None:
    """A run stopped with suggestions open (left for the next run), then resumed: the
    second adopts them at their tasks' costs and ends at the budget, as one run would."""
    budget = 4
    body = {**experiment_body(budget, type_="offline"), "tasks": TASKS}
    eid = (await client.create_experiment(body)).id
    stop = anyio.Event()
    evaluations = 0

    async def objective(assignments: dict[str, Any], evaluation: Evaluation) -> float:
        nonlocal evaluations
        evaluations += 1
        if evaluations >= 6:
            stop.set()
            await anyio.sleep(30)  # still running when the stop comes: left open
        return float(assignments["x"])

    settings = CoordinatorSettings(workers=3, run_id="mt-resume", drain_s=0)
    first = Coordinator(
        client, AsyncFunctionWorker(objective), experiment_id=eid, settings=settings
    )
    with anyio.fail_after(60):
        stopped = await first.run(stop=stop)
    assert stopped.reason is ExitReason.STOPPED and stopped.left_open
    evaluations = -1000  # the second run's evaluations never stop it
    second = Coordinator(
        client, AsyncFunctionWorker(objective), experiment_id=eid, settings=settings
    )
    with anyio.fail_after(60):
        finished = await second.run()
    assert finished.reason is ExitReason.BUDGET_REACHED
    observations = await client.observations(eid)
    consumed = sum((Decimal(repr(o.task.cost)) for o in observations if o.task), Decimal(0))
    assert budget <= consumed < budget + 1
    assert second.ledger.observed == consumed
    assert {o.suggestion for o in observations} >= set(stopped.left_open)
    assert await client.open_suggestions(eid) == []
