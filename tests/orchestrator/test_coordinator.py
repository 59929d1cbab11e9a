"""The coordinator against the real service on loopback, with real workers.

Each scenario checks the run's contract through the API: exactly `observation_budget`
observations, none duplicated, nothing left open, failures reported with their reason.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestrator.client import ServiceClient
from orchestrator.coordinator import (
    RUN_ID_KEY,
    Coordinator,
    CoordinatorSettings,
    ExitReason,
    RunSummary,
)
from orchestrator.journal import ReportJournal
from tests.orchestrator.conftest import (
    StoresDuplicateObservations,
    assert_exactly_budget,
    experiment_body,
    run,
)
from tests.orchestrator.coordinator_helpers import (
    OBJ,
    SCRIPTS,
    new_experiment,
    queue_suggestions,
)
from tests.orchestrator.objectives import Concurrency
from workers.async_function import AsyncFunctionWorker
from workers.base import Worker
from workers.process_pool import ProcessPoolWorker
from workers.subprocess import SubprocessWorker

# The official client (or the coordinator) end to end, on SQLite and on PostgreSQL.
pytestmark = pytest.mark.postgres_too


class TestParallelism:
    """N suggestions really are open and evaluated at once, never more."""

    async def test_peak_concurrency_equals_workers(self, client: ServiceClient) -> None:
        eid = await new_experiment(client, 24)
        Concurrency.reset()
        peak_open = 0
        done = anyio.Event()

        async def watch_open() -> None:
            nonlocal peak_open
            while not done.is_set():
                peak_open = max(peak_open, len(await client.open_suggestions(eid)))
                await anyio.sleep(0.005)

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_open)
            summary = await run(client, AsyncFunctionWorker(f"{OBJ}:sleepy"), eid, workers=6)
            done.set()
        assert summary.reason is ExitReason.BUDGET_REACHED
        assert Concurrency.peak == 6
        assert 1 <= peak_open <= 6
        await assert_exactly_budget(client, eid, 24)

    async def test_never_more_open_than_the_budget_needs(self, client: ServiceClient) -> None:
        eid = await new_experiment(client, 3)
        Concurrency.reset()
        await run(client, AsyncFunctionWorker(f"{OBJ}:sleepy"), eid, workers=8)
        assert Concurrency.peak == 3
        await assert_exactly_budget(client, eid, 3)


class TestEveryWorkerKind:
    """Every kind of worker ends at exactly the budget, nothing duplicated or open."""

    @pytest.mark.parametrize("kind", ["async", "process", "subprocess"])
    async def test_exact_budget(self, client: ServiceClient, kind: str, tmp_path: Path) -> None:
        eid = await new_experiment(client, 12)
        worker: Worker
        if kind == "async":
            worker = AsyncFunctionWorker(f"{OBJ}:by_kind")
        elif kind == "process":
            worker = ProcessPoolWorker(f"{OBJ}:pid_and_x", max_workers=2)
        else:
            worker = SubprocessWorker(
                [sys.executable, str(SCRIPTS / "by_kind.py"), "--x", "{x}", "--kind", "ok"]
            )
        try:
            summary = await run(client, worker, eid, workers=3, run_dir=tmp_path)
        finally:
            await worker.aclose()
        assert summary.stats.completed == 12 and summary.stats.failed == 0
        await assert_exactly_budget(client, eid, 12)
        observations = await client.observations(eid)
        meta = observations[0].metadata or {}
        assert meta[RUN_ID_KEY] == "test-run" and meta["attempt"] == 1
        assert {"worker_slot", "host", "duration_s"} <= set(meta)


class TestResume:
    """A restarted run adopts its own open suggestions; `fresh` deletes them instead."""

    async def test_adopts_own_leftovers_only(self, client: ServiceClient) -> None:
        eid = await new_experiment(client, 6)
        await queue_suggestions(client, eid, [{"x": 0.1}, {"x": 0.2}])
        await queue_suggestions(client, eid, [{"x": 0.9}], run_id="someone-else")
        summary = await run(client, AsyncFunctionWorker(f"{OBJ}:by_kind"), eid, workers=2)
        assert summary.stats.adopted == 2
        observations = await client.observations(eid)
        # 6 = budget - 1 open suggestion of another run (it counts against the budget).
        assert len(observations) == 5
        assert {0.1, 0.2} <= {o.assignments["x"] for o in observations}
        assert [s.assignments["x"] for s in await client.open_suggestions(eid)] == [0.9]

    async def test_fresh_deletes_leftovers(self, client: ServiceClient) -> None:
        eid = await new_experiment(client, 4)
        await queue_suggestions(client, eid, [{"x": 0.1}, {"x": 0.2}])
        summary = await run(client, AsyncFunctionWorker(f"{OBJ}:by_kind"), eid, fresh=True)
        assert summary.stats.adopted == 0
        assert 0.1 not in {o.assignments["x"] for o in await client.observations(eid)}
        await assert_exactly_budget(client, eid, 4)

    async def test_journal_reports_a_result_computed_before_a_crash(
        self, client: ServiceClient, tmp_path: Path
    ) -> None:
        """1. A run computed an outcome and journaled it, then died before the service
        acknowledged it (the suggestion is still open).
        2. The restarted run reports the journaled outcome instead of evaluating again."""
        eid = await new_experiment(client, 2)
        await queue_suggestions(client, eid, [{"x": 0.3}])
        sid = (await client.open_suggestions(eid))[0].id
        journal = ReportJournal(tmp_path / "reports.jsonl")
        from sigopt_service.models import MetricEvaluation

        await journal.record(
            sid, [MetricEvaluation(name="value", value=42.0)], False, {RUN_ID_KEY: "test-run"}
        )
        coordinator = Coordinator(
            client,
            AsyncFunctionWorker(f"{OBJ}:by_kind"),
            experiment_id=eid,
            journal=journal,
            settings=CoordinatorSettings(workers=1, run_id="test-run"),
        )
        with anyio.fail_after(30):
            await coordinator.run()
        journal.close()
        by_sid = {o.suggestion: o for o in await client.observations(eid)}
        assert by_sid[sid].value == 42.0
        await assert_exactly_budget(client, eid, 2)
        assert await ReportJournal(tmp_path / "reports.jsonl").pending() == []


class TestTransientFaults(StoresDuplicateObservations):
    """Through a fault proxy (5xx, 429, drops before and after the service acted) a whole
    run still ends with exactly the budget: no observation duplicated, none lost."""

    @pytest.mark.parametrize("seed", [1, 2])
    async def test_chaos_run_is_exact(self, service_url: str, seed: int) -> None:
        from tests.orchestrator.conftest import FAST_RETRY
        from tests.support.fault_proxy import FaultProxy, RandomFaults

        rates: dict[Any, float] = {
            "error_500": 0.04,
            "error_502": 0.04,
            "error_503": 0.04,
            "throttle_429": 0.04,
            "drop_before": 0.05,
            "drop_after": 0.07,
            "latency": 0.02,
        }
        async with (
            FaultProxy(service_url, plan=RandomFaults(rates, seed=seed), latency_s=0.01) as proxy,
            ServiceClient(proxy.url, retry=FAST_RETRY) as client,
        ):
            eid = await new_experiment(client, 40)
            summary = await run(client, AsyncFunctionWorker(f"{OBJ}:sleepy"), eid, workers=5)
            assert summary.reason is ExitReason.BUDGET_REACHED
            assert sum(proxy.injected.values()) >= 10
            assert proxy.injected["drop_after"] >= 2
        async with ServiceClient(service_url) as direct:
            await assert_exactly_budget(direct, eid, 40)


class TestSeveralMetrics:
    """A worker returning several named metrics reports them all in one observation."""

    async def test_dict_of_metrics(self, client: ServiceClient) -> None:
        body = experiment_body(
            4,
            metrics=[
                {"name": "accuracy", "objective": "maximize"},
                {"name": "latency", "strategy": "store"},
            ],
        )
        eid = (await client.create_experiment(body)).id
        await run(
            client, AsyncFunctionWorker("tests.workers.objectives:metric_dict"), eid, workers=2
        )
        observations = await client.observations(eid)
        assert len(observations) == 4
        for o in observations:
            got = {v.name: v.value for v in o.values}
            assert set(got) == {"accuracy", "latency"}
            assert got["latency"] == pytest.approx(10 * got["accuracy"])


class TestSharedExperiment:
    """Several coordinators on one experiment together stop exactly at its budget."""

    async def test_two_coordinators(self, client: ServiceClient) -> None:
        """1. Coordinator A (3 workers) starts on a budget of 12.
        2. Coordinator B (3 workers, another run id) joins while A runs.
        3. The service's atomic budget check stops both: exactly 12 observations."""
        eid = await new_experiment(client, 12)

        async def coordinator(run_id: str, delay_s: float) -> RunSummary:
            await anyio.sleep(delay_s)
            return await run(
                client, AsyncFunctionWorker(f"{OBJ}:sleepy"), eid, workers=3, run_id=run_id
            )

        summaries: list[RunSummary] = []

        async def collect(run_id: str, delay_s: float) -> None:
            summaries.append(await coordinator(run_id, delay_s))

        async with anyio.create_task_group() as tg:
            tg.start_soon(collect, "A", 0.0)
            tg.start_soon(collect, "B", 0.05)
        assert all(s.reason is ExitReason.BUDGET_REACHED for s in summaries)
        assert sum(s.stats.finished for s in summaries) == 12
        assert min(s.stats.finished for s in summaries) > 0
        await assert_exactly_budget(client, eid, 12)
