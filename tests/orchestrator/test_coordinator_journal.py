"""The coordinator's report journal bridges a service outage and re-evaluates refused reports."""

from __future__ import annotations

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
)
from orchestrator.journal import ReportJournal
from tests.orchestrator.conftest import (
    assert_exactly_budget,
)
from tests.orchestrator.coordinator_helpers import (
    new_experiment,
    queue_suggestions,
)
from workers.base import Completed, Evaluation, MetricValue, Outcome


class CountingWorker:
    """Counts evaluations; returns x."""

    def __init__(self) -> None:
        self.calls = 0

    async def prepare(self, evaluation: Evaluation) -> None:
        return None

    async def evaluate(self, evaluation: Evaluation) -> Outcome:
        self.calls += 1
        return Completed(values=(MetricValue(None, float(evaluation.assignments["x"])),))

    async def aclose(self) -> None:
        return None


class TestServiceOutage:
    """Outcomes that could not be delivered are journaled and reported by the next run,
    without evaluating again."""

    async def test_journal_bridges_an_outage(self, service_url: str, tmp_path: Path) -> None:
        """1. Observations get 503 past the retry budget: the run fails, journaling them.
        2. The next run (service healthy) reports the journaled outcomes first and
           evaluates only what was never evaluated; the budget is exact."""
        from orchestrator.client import RetryPolicy
        from orchestrator.errors import TransientServiceError
        from tests.support.fault_proxy import FaultProxy

        def outage(method: str, path: str) -> Any:
            return "error_503" if method == "POST" and "/observations" in path else None

        journal = ReportJournal(tmp_path / "reports.jsonl")
        worker = CountingWorker()
        settings = CoordinatorSettings(workers=2, run_id="outage")
        tiny = RetryPolicy(
            max_attempts=2, max_total_s=1, initial_backoff_s=0.001, max_backoff_s=0.002
        )
        async with (
            FaultProxy(service_url, plan=outage) as proxy,
            ServiceClient(proxy.url, retry=tiny) as client,
        ):
            eid = await new_experiment(client, 6)
            with pytest.raises(BaseExceptionGroup) as info, anyio.fail_after(30):
                await Coordinator(
                    client, worker, experiment_id=eid, settings=settings, journal=journal
                ).run()
            assert info.group_contains(TransientServiceError)
        evaluated = worker.calls
        assert evaluated >= 2 and len(await journal.pending()) == evaluated
        async with ServiceClient(service_url) as client:
            with anyio.fail_after(30):
                summary = await Coordinator(
                    client, worker, experiment_id=eid, settings=settings, journal=journal
                ).run()
            assert summary.reason is ExitReason.BUDGET_REACHED
            assert worker.calls == 6  # the journaled outcomes were not evaluated again
            await assert_exactly_budget(client, eid, 6)
        assert await journal.pending() == []


class TestJournalRefused:
    """A journaled report the service refuses is evaluated afresh, not counted as done."""

    async def test_refused_replay_is_reevaluated(
        self, client: ServiceClient, tmp_path: Path
    ) -> None:
        from sigopt_service.models import MetricEvaluation

        eid = await new_experiment(client, 3)
        await queue_suggestions(client, eid, [{"x": 0.3}])
        sid = (await client.open_suggestions(eid))[0].id
        journal = ReportJournal(tmp_path / "reports.jsonl")
        # Values for a metric the experiment does not have: the service answers 400.
        await journal.record(
            sid, [MetricEvaluation(name="renamed", value=1.0)], False, {RUN_ID_KEY: "test-run"}
        )
        coordinator = Coordinator(
            client,
            CountingWorker(),
            experiment_id=eid,
            journal=journal,
            settings=CoordinatorSettings(workers=1, run_id="test-run"),
        )
        with anyio.fail_after(30):
            summary = await coordinator.run()
        journal.close()
        assert summary.reason is ExitReason.BUDGET_REACHED
        assert sid in {o.suggestion for o in await client.observations(eid)}
        await assert_exactly_budget(client, eid, 3)
