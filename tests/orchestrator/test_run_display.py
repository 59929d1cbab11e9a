"""What the run shows (issue 12, items 1 and 9): the panel tells the experiment's count
from this run's, shows failures by reason with the last one's message, stderr and folder,
and says `draining` / `cancelling` instead of a time left once the run stops; the
coordinator moves `RunStats.phase` along as the stop goes."""

from __future__ import annotations

import io
from pathlib import Path

import anyio
from rich.console import Console

from orchestrator.client import ServiceClient
from orchestrator.coordinator import (
    Coordinator,
    CoordinatorSettings,
    ExitReason,
    FailureNote,
    RunStats,
)
from orchestrator.progress import TIMES, failure_report, render
from tests.orchestrator.coordinator_helpers import new_experiment
from workers.base import Evaluation, Failed, Outcome


def _text(stats: RunStats, width: int = 160) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(render(stats, "7", now=10.0))
    return out.getvalue()


def _failing_stats() -> RunStats:
    note = FailureNote(
        suggestion_id="12",
        reason="exit_code",
        message="command exited with code 1",
        stderr_tail="Traceback (most recent call last):\n  File x\n[red]not markup[/red]\n"
        "ModuleNotFoundError: No module named 'sklearn'\n\n",
        folder=Path("/runs/sub/evaluations/12-1"),
        exit_code=1,
    )
    return RunStats(
        budget=20,
        observed_at_start=2,
        completed=1,
        failed=10,
        failure_reasons={"no_metric": 2, "exit_code": 8},
        last_failure=note,
        started_at=0,
    )


class TestPanel:
    """`render` labels whose count is whose, and shows what failed and why."""

    def test_experiment_count_apart_from_this_run(self) -> None:
        stats = RunStats(budget=12, observed_at_start=8, completed=4, adopted=3, started_at=0)
        text = _text(stats)
        assert "experiment observations" in text and "12 / 12" in text
        assert "this run: completed" in text and "this run: failed" in text
        assert "this run: resumed" in text and "3 adopted, 0 replayed" in text
        assert "resumed" not in _text(RunStats(budget=12, completed=4, started_at=0))

    def test_failures_by_reason_and_the_last_one(self) -> None:
        text = _text(_failing_stats())
        assert f"10 (8 {TIMES} exit_code, 2 {TIMES} no_metric)" in text
        assert "exit_code: command exited with code 1 (suggestion 12)" in text
        # The last three stderr lines, markup shown as written.
        assert "No module named 'sklearn'" in text and "[red]not markup[/red]" in text
        assert "Traceback" not in text
        assert "/runs/sub/evaluations/12-1" in text

    def test_no_failure_rows_without_failures(self) -> None:
        text = _text(RunStats(budget=5, completed=2, started_at=0))
        assert "last failure" not in text and "folder" not in text

    def test_draining_replaces_time_left(self) -> None:
        stats = RunStats(budget=100, completed=10, started_at=0)
        assert "1m30s" in _text(stats)  # 90 left at 1 per second
        stats.phase = "draining"
        text = _text(stats)
        assert "draining" in text and "1m30s" not in text
        stats.phase = "cancelling"
        assert "cancelling" in _text(stats)


class TestFailureReport:
    """The end-of-run account: counts, message, exit code, stderr tail, folder."""

    def test_lines(self) -> None:
        lines = [t.plain for t in failure_report(_failing_stats(), lines_each=2)]
        # No `exit code 1` line: the message says it already.
        assert lines == [
            f"failures this run: 8 {TIMES} exit_code, 2 {TIMES} no_metric",
            "last failure (suggestion 12): exit_code",
            "  command exited with code 1",
            "  stderr, last 2 line(s):",
            "    [red]not markup[/red]",
            "    ModuleNotFoundError: No module named 'sklearn'",
            "  evaluation folder: /runs/sub/evaluations/12-1",
        ]
        assert failure_report(RunStats()) == []


class _SlowWorker:
    """Each evaluation takes `delay_s`; counts how many started."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.started = 0

    async def prepare(self, evaluation: Evaluation) -> None:
        return None

    async def evaluate(self, evaluation: Evaluation) -> Outcome:
        self.started += 1
        await anyio.sleep(self.delay_s)
        return Failed(reason="slow", details={"message": "took its time"})

    async def aclose(self) -> None:
        return None


class TestPhase:
    """The coordinator sets `RunStats.phase`: draining after a stop, cancelling after force."""

    async def test_stop_then_force(self, client: ServiceClient) -> None:
        """1. Two slow evaluations run; stop: the phase is `draining` (told to the display).
        2. Force: `cancelling`; the run ends stopped, nothing reported failed."""
        eid = await new_experiment(client, 10)
        worker = _SlowWorker(60)
        phases: list[str] = []
        coordinator = Coordinator(
            client,
            worker,
            experiment_id=eid,
            settings=CoordinatorSettings(workers=2, run_id="r", drain_s=60),
            on_progress=lambda s: phases.append(s.phase),
        )
        stop, force = anyio.Event(), anyio.Event()

        async def drive() -> None:
            while worker.started < 2:  # noqa: ASYNC110 - nothing to wait on
                await anyio.sleep(0.01)
            stop.set()
            while coordinator.stats.phase != "draining":  # noqa: ASYNC110
                await anyio.sleep(0.01)
            assert phases[-1] == "draining"
            force.set()

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(drive)
                summary = await coordinator.run(stop=stop, force=force)
        assert summary.reason is ExitReason.STOPPED and summary.stats.failed == 0
        assert coordinator.stats.phase == "cancelling" and "cancelling" in phases

    async def test_breaker_cancels(self, client: ServiceClient) -> None:
        """The failure breaker cancels what runs: the phase is `cancelling`."""
        from orchestrator.coordinator import FailurePolicy

        eid = await new_experiment(client, 10)
        coordinator = Coordinator(
            client,
            _SlowWorker(0),
            experiment_id=eid,
            settings=CoordinatorSettings(
                workers=1, run_id="r", failures=FailurePolicy(max_consecutive=2)
            ),
        )
        with anyio.fail_after(30):
            summary = await coordinator.run()
        assert summary.reason is ExitReason.FAILURE_LIMIT
        assert coordinator.stats.phase == "cancelling"
        assert coordinator.stats.failure_reasons == {"slow": 2}


class TestLogsAboveThePanel:
    """A log line written while the live panel is shown goes through its console (above
    the panel), not straight to the terminal under it, where the panel's next refresh
    would leave a stray copy of its header above the line."""

    def test_warning_during_the_panel(self, capsys: object) -> None:
        import structlog

        from orchestrator.progress import LiveProgress
        from sigopt_service.logs import configure_logging

        configure_logging("console", "warning")
        out = io.StringIO()
        console = Console(file=out, force_terminal=True, width=100)
        with LiveProgress(console) as live:
            live.started("7", "http://127.0.0.1:1")
            live.update(RunStats(budget=3, started_at=0))
            structlog.get_logger().warning("disk_nearly_full", free_mb=12)
        assert "disk_nearly_full" in out.getvalue()
