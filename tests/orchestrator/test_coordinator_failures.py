"""The coordinator reports failures with their reason, trips its breaker, re-runs lost work."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.client import ServiceClient
from orchestrator.coordinator import (
    ExitReason,
    FailurePolicy,
)
from tests.orchestrator.conftest import (
    assert_exactly_budget,
    run,
)
from tests.orchestrator.coordinator_helpers import (
    OBJ,
    by_kind_worker,
    new_experiment,
    queue_suggestions,
)
from tests.support.processes import wait_gone
from workers.async_function import AsyncFunctionWorker
from workers.base import Completed, Evaluation, MetricValue, Outcome
from workers.errors import BrokenWorker

# The official client (or the coordinator) end to end, on SQLite and on PostgreSQL.
pytestmark = pytest.mark.postgres_too


class TestFailuresAreReported:
    """Each failure kind arrives as a failed observation whose metadata names the reason."""

    async def test_subprocess_failure_kinds(self, client: ServiceClient, tmp_path: Path) -> None:
        kinds = ["ok", "exit", "nometric", "nan", "garbage", "hang"]
        eid = await new_experiment(client, len(kinds), kind=kinds)
        pids = tmp_path / "pids.txt"
        await queue_suggestions(client, eid, [{"x": 0.5, "kind": k} for k in kinds])
        worker = by_kind_worker(pids, kill_grace_s=1)
        summary = await run(
            client,
            worker,
            eid,
            workers=6,
            run_dir=tmp_path,
            evaluation_timeout_s=6,
            failures=FailurePolicy(None, None),
        )
        assert summary.stats.failed == 5 and summary.stats.completed == 1
        by_kind = {o.assignments["kind"]: o for o in await client.observations(eid)}
        assert not by_kind["ok"].failed and by_kind["ok"].value == 0.5
        reasons = {k: (o.metadata or {}).get("failure_reason") for k, o in by_kind.items()}
        assert reasons == {
            "ok": None,
            "exit": "exit_code",
            "nometric": "no_metric",
            "nan": "invalid_result",
            "garbage": "no_metric",
            "hang": "timeout",
        }
        exit_meta = by_kind["exit"].metadata or {}
        assert exit_meta["failure_exit_code"] == 3
        assert "CUDA out of memory" in str(exit_meta["failure_stderr_tail"])
        assert all(o.failed and o.values == [] for k, o in by_kind.items() if k != "ok")
        # The hung command and its grandchild were killed at the timeout.
        for pid in map(int, pids.read_text().split()):
            await wait_gone(pid)
        await assert_exactly_budget(client, eid, len(kinds))

    async def test_in_process_failures(self, client: ServiceClient) -> None:
        kinds = ["ok", "raise", "nan"]
        eid = await new_experiment(client, 3, kind=kinds)
        await queue_suggestions(client, eid, [{"x": 0.25, "kind": k} for k in kinds])
        await run(client, AsyncFunctionWorker(f"{OBJ}:by_kind"), eid, workers=3)
        by_kind = {o.assignments["kind"]: o.metadata or {} for o in await client.observations(eid)}
        assert by_kind["raise"]["failure_reason"] == "exception"
        assert by_kind["raise"]["failure_exception_type"] == "RuntimeError"
        assert "objective exploded" in str(by_kind["raise"]["failure_message"])
        assert by_kind["nan"]["failure_reason"] == "invalid_result"

    async def test_metric_of_the_wrong_name(self, client: ServiceClient) -> None:
        eid = await new_experiment(client, 2)
        await run(
            client,
            AsyncFunctionWorker(f"{OBJ}:wrong_metric"),
            eid,
            workers=1,
            failures=FailurePolicy(None, None),
        )
        observations = await client.observations(eid)
        assert all(o.failed for o in observations)
        meta = observations[0].metadata or {}
        assert meta["failure_reason"] == "metric_mismatch"
        assert "value" in str(meta["failure_message"])


class TestFailureBreaker:
    """Failures past the limit end the run with nothing of its own left open."""

    async def test_consecutive_failures_trip(self, client: ServiceClient) -> None:
        eid = await new_experiment(client, 50)
        summary = await run(
            client,
            AsyncFunctionWorker(f"{OBJ}:always_fails"),
            eid,
            workers=4,
            failures=FailurePolicy(max_consecutive=5, max_fraction=None),
        )
        assert summary.reason is ExitReason.FAILURE_LIMIT
        assert 5 <= summary.stats.failed < 50
        assert await client.open_suggestions(eid) == []

    async def test_the_failure_that_trips_asks_for_nothing_more(
        self, client: ServiceClient
    ) -> None:
        """With one worker, the breaker trips on the 3rd failure: exactly 3 suggestions
        were ever made (none made and then deleted)."""
        eid = await new_experiment(client, 50)
        summary = await run(
            client,
            AsyncFunctionWorker(f"{OBJ}:always_fails"),
            eid,
            workers=1,
            failures=FailurePolicy(max_consecutive=3, max_fraction=None),
        )
        assert summary.reason is ExitReason.FAILURE_LIMIT and summary.stats.failed == 3
        made = await client._call("GET", f"/experiments/{eid}/suggestions", params={"limit": "0"})
        assert made.body["count"] == 3
        # `deleted=true` lists the deleted ones only, as SigOpt's server does (issue 18).
        deleted = await client._call(
            "GET", f"/experiments/{eid}/suggestions", params={"deleted": "true", "limit": "0"}
        )
        assert deleted.body["count"] == 0


class FlakyWorker:
    """Loses its 'process' on the first attempt of every evaluation (an infrastructure fault)."""

    def __init__(self, fail_attempts: int = 1) -> None:
        self.fail_attempts = fail_attempts
        self.calls: list[tuple[str, int]] = []

    async def prepare(self, evaluation: Evaluation) -> None:
        return None

    async def evaluate(self, evaluation: Evaluation) -> Outcome:
        self.calls.append((evaluation.id, evaluation.attempt))
        if evaluation.attempt <= self.fail_attempts:
            raise BrokenWorker("worker process lost")
        return Completed(values=(MetricValue(None, 1.0),))

    async def aclose(self) -> None:
        return None


class TestInfrastructureFaults:
    """A lost worker is no parameter failure: re-run, or deleted after bounded retries."""

    async def test_rerun_after_a_lost_worker(self, client: ServiceClient) -> None:
        eid = await new_experiment(client, 5)
        worker = FlakyWorker(fail_attempts=1)
        summary = await run(client, worker, eid, workers=2, max_retries=2)
        assert summary.reason is ExitReason.BUDGET_REACHED
        assert summary.stats.failed == 0 and summary.stats.infrastructure_errors == 5
        await assert_exactly_budget(client, eid, 5)
        assert all(
            not o.failed and (o.metadata or {})["attempt"] == 2
            for o in await client.observations(eid)
        )

    async def test_persistently_broken_worker_ends_the_run(self, client: ServiceClient) -> None:
        eid = await new_experiment(client, 5)
        summary = await run(client, FlakyWorker(fail_attempts=99), eid, workers=2, max_retries=1)
        assert summary.reason is ExitReason.BROKEN_WORKER
        assert await client.observations(eid) == []
        assert await client.open_suggestions(eid) == []
