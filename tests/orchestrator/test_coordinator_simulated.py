"""The coordinator on simulated time: a `SimulatedWorker` advancing a `FakeClock`, the
real `ServiceClient` on the `InProcessTransport`. No socket and no sleep, so a run of
hundreds of evaluations takes well under a second, and every duration is exact."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from orchestrator.client import RetryPolicy, ServiceClient
from orchestrator.coordinator import (
    RUN_ID_KEY,
    Coordinator,
    CoordinatorSettings,
    ExitReason,
    FailurePolicy,
    RunSummary,
)
from orchestrator.in_process import InProcessTransport
from orchestrator.simulation import Assignments, FakeClock, SimulatedWorker
from sigopt_service import ServiceConfig
from tests.orchestrator.conftest import assert_exactly_budget, experiment_body
from workers.base import Evaluation, Failed
from workers.errors import BrokenWorker

FAST = RetryPolicy(max_attempts=3, max_total_s=5, initial_backoff_s=0.001, max_backoff_s=0.005)
NO_BREAKER = FailurePolicy(max_consecutive=None, max_fraction=None)


@pytest.fixture
async def client() -> AsyncIterator[ServiceClient]:
    async with (
        InProcessTransport(ServiceConfig(port=0, db=None, seed=1)) as transport,
        ServiceClient("in-process", transport=transport, retry=FAST) as c,
    ):
        yield c


class Simulation:
    """One experiment, one fake clock, one simulated worker, one coordinator."""

    def __init__(
        self,
        client: ServiceClient,
        objective: Callable[[Assignments], Any],
        *,
        duration_s: float | Callable[[Evaluation], float] = 2.0,
    ) -> None:
        self.client = client
        self.clock = FakeClock(start=1000.0)
        self.worker = SimulatedWorker(self.clock, objective, duration_s=duration_s)
        self.coordinator: Coordinator | None = None

    async def run(self, budget: int, *, workers: int = 8, **settings: Any) -> RunSummary:
        self.eid = (await self.client.create_experiment(experiment_body(budget))).id
        self.coordinator = Coordinator(
            self.client,
            self.worker,
            experiment_id=self.eid,
            settings=CoordinatorSettings(workers=workers, run_id="sim", **settings),
            clock=self.clock,
        )
        with anyio.fail_after(30):
            return await self.coordinator.run()


class TestBudget:
    """The run stops exactly at the budget, fast, with the ledger settled."""

    async def test_500_trials_on_8_slots(self, client: ServiceClient) -> None:
        """500 evaluations of 2 simulated seconds: 1000 s of simulated time, all of it
        measured by the fake clock, in well under a few seconds of wall time."""
        sim = Simulation(client, lambda a: float(a["x"]), duration_s=2.0)
        started = time.perf_counter()
        with capture_logs() as logs:
            summary = await sim.run(500)
        assert time.perf_counter() - started < 5.0
        assert summary.reason is ExitReason.BUDGET_REACHED
        assert (summary.stats.completed, summary.stats.failed) == (500, 0)
        assert summary.elapsed_s == pytest.approx(1000.0)
        assert len(sim.worker.evaluations) == 500
        await assert_exactly_budget(client, sim.eid, 500)
        assert repr(sim.coordinator).startswith(
            f"Coordinator(experiment={sim.eid}, "
            "BudgetLedger(committed=500/500: observed=500, reserved=0, foreign=0), "
            "stopping=False, RunStats(observed=500/500, completed=500, failed=0, running=0"
        )
        finished = [e for e in logs if e["event"] == "run_finished"]
        assert finished == [
            {
                "event": "run_finished",
                "log_level": "info",
                "experiment_id": sim.eid,
                "reason": "budget_reached",
                "completed": 500,
                "failed": 0,
                "elapsed_s": 1000.0,
            }
        ]

    async def test_best_value_is_tracked(self, client: ServiceClient) -> None:
        """`stats.best_value` is the highest value reported (the metric maximizes)."""
        sim = Simulation(client, lambda a: float(a["x"]))
        summary = await sim.run(40)
        best = max(float(e.assignments["x"]) for e in sim.worker.evaluations)
        assert summary.stats.best_value == best
        assert summary.stats.best_assignments == {"x": best}

    async def test_durations_in_metadata_come_from_the_clock(self, client: ServiceClient) -> None:
        """Each observation's `duration_s` is its own simulated duration, to the digit."""

        def duration(evaluation: Evaluation) -> float:
            return 0.125 + int(evaluation.id) % 7

        sim = Simulation(client, lambda a: 1.0, duration_s=duration)
        await sim.run(60)
        observations = await client.observations(sim.eid)
        assert len(observations) == 60
        for o in observations:
            assert o.metadata is not None and o.suggestion is not None
            assert o.metadata["duration_s"] == 0.125 + int(o.suggestion) % 7
            assert (o.metadata["attempt"], o.metadata[RUN_ID_KEY]) == (1, "sim")


class TestFailures:
    """Failed evaluations are failed observations; broken workers retry, then delete."""

    async def test_failures_are_failed_observations_with_metadata(
        self, client: ServiceClient
    ) -> None:
        """An objective's own failure is reported `failed`, the reason in metadata."""

        def objective(a: Assignments) -> Any:
            x = float(a["x"])
            return {"failed": True, "reason": "too small"} if x < 0.3 else x

        sim = Simulation(client, objective)
        summary = await sim.run(100, failures=NO_BREAKER)
        observations = await client.observations(sim.eid)
        failed = [o for o in observations if o.failed]
        assert len(observations) == 100 and summary.stats.failed == len(failed) > 0
        for o in failed:
            assert o.metadata is not None and o.values == []
            assert o.metadata["failure_reason"] == "objective_failed"
            assert o.metadata["failure_message"] == "too small"
        await assert_exactly_budget(client, sim.eid, 100)

    async def test_a_broken_worker_is_retried(self, client: ServiceClient) -> None:
        """A lost process on the first attempt: the same suggestion runs again and its
        observation says attempt 2."""
        attempts: Counter[float] = Counter()

        def objective(a: Assignments) -> float:
            x = float(a["x"])
            attempts[x] += 1
            if attempts[x] == 1:
                raise BrokenWorker("process lost")
            return x

        sim = Simulation(client, objective)
        summary = await sim.run(20, workers=4)
        assert summary.reason is ExitReason.BUDGET_REACHED
        assert summary.stats.infrastructure_errors == 20
        observations = await client.observations(sim.eid)
        assert {(o.metadata or {}).get("attempt") for o in observations} == {2}
        await assert_exactly_budget(client, sim.eid, 20)

    async def test_a_worker_broken_past_its_retries_is_deleted(self, client: ServiceClient) -> None:
        """1. Every attempt breaks. 2. After `max_retries` re-runs the suggestion is
        deleted, not reported. 3. The run ends `broken_worker` with nothing open."""

        def objective(a: Assignments) -> float:
            raise BrokenWorker("process lost")

        sim = Simulation(client, objective)
        with capture_logs() as logs:
            summary = await sim.run(10, workers=1, max_retries=2)
        assert summary.reason is ExitReason.BROKEN_WORKER
        assert len(sim.worker.evaluations) == 3
        assert await client.observations(sim.eid) == []
        assert await client.open_suggestions(sim.eid) == []
        deleted = [e for e in logs if e["event"] == "suggestion_deleted"]
        assert [e["why"] for e in deleted] == ["worker_broken"]
        assert "reserved=0" in repr(sim.coordinator)

    async def test_the_breaker_stops_the_run(self, client: ServiceClient) -> None:
        """Always failing with a limit of 5 in a row: the run ends `failure_limit`, logged
        once, no suggestion of its own left open."""
        sim = Simulation(client, lambda a: Failed(reason="diverged"))
        with capture_logs() as logs:
            summary = await sim.run(
                200, failures=FailurePolicy(max_consecutive=5, max_fraction=None)
            )
        assert summary.reason is ExitReason.FAILURE_LIMIT
        assert summary.stats.completed == 0 and summary.stats.failed >= 5
        assert [e["event"] for e in logs].count("failure_limit_reached") == 1
        assert await client.open_suggestions(sim.eid) == []
        observations = await client.observations(sim.eid)
        assert len(observations) == summary.stats.failed
        assert all((o.metadata or {})["failure_reason"] == "diverged" for o in observations)
