"""The coordinator against the real service on loopback, with real workers.

Each scenario checks the run's contract through the API: exactly `observation_budget`
observations, none duplicated, nothing left open, failures reported with their reason.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
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
    FailurePolicy,
    RunSummary,
)
from orchestrator.journal import ReportJournal
from tests.orchestrator.conftest import (
    StoresDuplicateObservations,
    assert_exactly_budget,
    experiment_body,
    run,
)
from tests.orchestrator.objectives import Concurrency
from tests.support.processes import wait_gone
from workers.async_function import AsyncFunctionWorker
from workers.base import Completed, Evaluation, MetricValue, Outcome, Worker
from workers.errors import BrokenWorker
from workers.process_pool import ProcessPoolWorker
from workers.subprocess import SubprocessWorker

SCRIPTS = Path(__file__).parent / "scripts"
OBJ = "tests.orchestrator.objectives"


async def new_experiment(client: ServiceClient, budget: int, **kw: Any) -> str:
    return (await client.create_experiment(experiment_body(budget, **kw))).id


async def queue_suggestions(
    client: ServiceClient, eid: str, assignments: Sequence[dict[str, Any]], run_id: str = "test-run"
) -> None:
    """Open suggestions with chosen assignments, tagged as the run's own: it adopts them."""
    for a in assignments:
        await client.create_suggestion(eid, a, metadata={RUN_ID_KEY: run_id})


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll a condition that no event can signal (files written by other processes)."""
    with anyio.fail_after(30):
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.05)


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


class TestFailuresAreReported:
    """Each failure kind arrives as a failed observation whose metadata names the reason."""

    async def test_subprocess_failure_kinds(self, client: ServiceClient, tmp_path: Path) -> None:
        kinds = ["ok", "exit", "nometric", "nan", "garbage", "hang"]
        eid = await new_experiment(client, len(kinds), kind=kinds)
        pids = tmp_path / "pids.txt"
        await queue_suggestions(client, eid, [{"x": 0.5, "kind": k} for k in kinds])
        worker = SubprocessWorker(
            [
                sys.executable,
                str(SCRIPTS / "by_kind.py"),
                "--x",
                "{x}",
                "--kind",
                "{kind}",
                "--pids",
                str(pids),
            ],
            kill_grace_s=1,
        )
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
        made = await client._call(
            "GET", f"/experiments/{eid}/suggestions", params={"deleted": "true", "limit": "0"}
        )
        assert made.body["count"] == 3


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


class TestShutdown:
    """A stop drains running evaluations; a forced stop cancels them without failing them."""

    async def test_stop_drains(self, client: ServiceClient, tmp_path: Path) -> None:
        """1. Start 3 subprocess evaluations of 0.5 s each on a budget of 20.
        2. Set the stop event while they run.
        3. They finish and are reported; no new suggestion is asked; nothing is open."""
        eid = await new_experiment(client, 20)
        worker = SubprocessWorker(
            [
                sys.executable,
                "-c",
                "import time, json; time.sleep(0.5); print(json.dumps({{'value': 1}}))",
            ]
        )
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:

            async def stop_soon() -> None:
                await anyio.sleep(0.2)
                stop.set()

            tg.start_soon(stop_soon)
            summary = await run(
                client, worker, eid, workers=3, stop=stop, drain_s=30, run_dir=tmp_path
            )
        assert summary.reason is ExitReason.STOPPED
        assert summary.stats.completed == 3 and summary.stats.failed == 0
        assert len(await client.observations(eid)) == 3
        assert await client.open_suggestions(eid) == []

    @pytest.mark.parametrize("on_stop", ["leave_open", "delete"])
    async def test_force_cancels_and_never_reports_failed(
        self, client: ServiceClient, tmp_path: Path, on_stop: str
    ) -> None:
        """1. Start 3 hanging subprocess evaluations (each with a grandchild).
        2. Stop, then force: the evaluations are cancelled, their process groups killed.
        3. Nothing is reported; the suggestions are left open or deleted per `on_stop`."""
        kinds = ["hang", "ok"]
        eid = await new_experiment(client, 3, kind=kinds)
        await queue_suggestions(client, eid, [{"x": 0.5, "kind": "hang"}] * 3)
        pids = tmp_path / "pids.txt"
        worker = SubprocessWorker(
            [
                sys.executable,
                str(SCRIPTS / "by_kind.py"),
                "--x",
                "{x}",
                "--kind",
                "{kind}",
                "--pids",
                str(pids),
            ],
            kill_grace_s=0.5,
        )
        stop, force = anyio.Event(), anyio.Event()
        async with anyio.create_task_group() as tg:

            async def stop_then_force() -> None:
                await wait_until(lambda: pids.exists() and len(pids.read_text().split()) >= 6)
                stop.set()
                await anyio.sleep(0.1)
                force.set()

            tg.start_soon(stop_then_force)
            summary = await run(
                client,
                worker,
                eid,
                workers=3,
                stop=stop,
                force=force,
                run_dir=tmp_path,
                on_stop=on_stop,
            )
        assert summary.reason is ExitReason.STOPPED
        assert summary.stats.failed == 0 and await client.observations(eid) == []
        open_now = await client.open_suggestions(eid)
        assert len(open_now) == (3 if on_stop == "leave_open" else 0)
        for pid in map(int, pids.read_text().split()):
            await wait_gone(pid)


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
