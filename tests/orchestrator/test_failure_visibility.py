"""Failures made visible (issue 12, item 1) through the real coordinator, the loopback
service and the subprocess worker: this run's failures counted by reason, the last one
kept with its message, stderr tail and evaluation folder, each evaluation folder's
`outcome.json`, and the `evaluation_failed` event carrying the message."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
from structlog.testing import capture_logs

from orchestrator.client import ServiceClient
from orchestrator.coordinator import (
    OUTCOME_FILE,
    RUN_ID_KEY,
    Coordinator,
    CoordinatorSettings,
    ExitReason,
    FailurePolicy,
)
from orchestrator.journal import ReportJournal
from tests.orchestrator.coordinator_helpers import new_experiment, queue_suggestions
from workers.subprocess import SubprocessWorker

SCRIPT = Path(__file__).parent / "scripts" / "noisy_failure.py"
NO_BREAKER = FailurePolicy(None, None)


async def _run(
    client: ServiceClient, eid: str, run_dir: Path, **settings: Any
) -> tuple[Coordinator, ExitReason]:
    worker = SubprocessWorker([sys.executable, str(SCRIPT), "{kind}", "{x}"])
    settings.setdefault("failures", NO_BREAKER)
    coordinator = Coordinator(
        client,
        worker,
        experiment_id=eid,
        settings=CoordinatorSettings(workers=1, run_id="test-run", run_dir=run_dir, **settings),
    )
    try:
        with anyio.fail_after(60):
            summary = await coordinator.run()
    finally:
        await worker.aclose()
    return coordinator, summary.reason


def _outcome_file(run_dir: Path, suggestion_id: str) -> dict[str, Any]:
    path = run_dir / "evaluations" / f"{suggestion_id}-1" / OUTCOME_FILE
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


class TestFailureStats:
    """`RunStats` counts failures by reason and keeps the last one, folder included."""

    async def test_reasons_counted_and_last_failure_kept(
        self, client: ServiceClient, tmp_path: Path
    ) -> None:
        kinds = ["ok", "crash", "wrong_name"]
        eid = await new_experiment(client, 4, kind=kinds)
        await queue_suggestions(
            client,
            eid,
            [{"x": 0.5, "kind": k} for k in ("crash", "wrong_name", "ok", "crash")],
        )
        order = sorted((s.id for s in await client.open_suggestions(eid)), key=int)
        with capture_logs() as logs:
            coordinator, reason = await _run(client, eid, tmp_path)
        stats = coordinator.stats
        assert reason is ExitReason.BUDGET_REACHED
        assert (stats.completed, stats.failed) == (1, 3)
        assert stats.failure_reasons == {"exit_code": 2, "metric_mismatch": 1}
        last = stats.last_failure
        assert last is not None
        assert last.suggestion_id == order[-1] and last.reason == "exit_code"
        assert last.message == "command exited with code 1" and last.exit_code == 1
        assert "No module named 'sklearn'" in last.stderr_tail
        assert last.folder == tmp_path / "evaluations" / f"{order[-1]}-1"
        failed_events = [e for e in logs if e["event"] == "evaluation_failed"]
        assert [e["reason"] for e in failed_events] == [
            "exit_code",
            "metric_mismatch",
            "exit_code",
        ]
        assert failed_events[1]["message"] == "expected metrics ['value'], got ['score']"
        assert failed_events[0]["folder"] == str(tmp_path / "evaluations" / f"{order[0]}-1")


class TestOutcomeFile:
    """Each evaluation folder gets `outcome.json`; failing to write it loses no report."""

    async def test_each_folder_tells_its_outcome(
        self, client: ServiceClient, tmp_path: Path
    ) -> None:
        eid = await new_experiment(client, 3, kind=["ok", "crash", "wrong_name"])
        await queue_suggestions(
            client, eid, [{"x": 0.25, "kind": k} for k in ("ok", "crash", "wrong_name")]
        )
        ok, crash, wrong = sorted((s.id for s in await client.open_suggestions(eid)), key=int)
        await _run(client, eid, tmp_path)
        completed = _outcome_file(tmp_path, ok)
        assert completed["status"] == "completed" and completed["reason"] is None
        assert completed["values"] == [{"name": "value", "value": 0.25, "stddev": None}]
        assert completed["duration_s"] > 0 and completed["attempt"] == 1
        failed = _outcome_file(tmp_path, crash)
        assert (failed["status"], failed["reason"], failed["exit_code"]) == (
            "failed",
            "exit_code",
            1,
        )
        assert failed["message"] == "command exited with code 1" and failed["values"] == []
        assert failed["duration_s"] > 0 and failed["suggestion_id"] == crash
        mismatch = _outcome_file(tmp_path, wrong)
        assert mismatch["reason"] == "metric_mismatch" and mismatch["exit_code"] is None
        assert mismatch["message"] == "expected metrics ['value'], got ['score']"

    async def test_a_link_the_command_left_is_not_written_through(
        self, client: ServiceClient, tmp_path: Path, monkeypatch: Any
    ) -> None:
        """The command writes into its folder: a symlink it leaves where the outcome file's
        temporary file goes is replaced, and the file it points to is untouched."""
        victim = tmp_path / "victim.txt"
        victim.write_text("keep me\n")
        monkeypatch.setenv("VICTIM", str(victim))
        eid = await new_experiment(client, 1, kind=["plant_link", "ok"])
        await queue_suggestions(client, eid, [{"x": 0.5, "kind": "plant_link"}])
        (sid,) = [s.id for s in await client.open_suggestions(eid)]
        await _run(client, eid, tmp_path / "run")
        assert victim.read_text() == "keep me\n"
        assert _outcome_file(tmp_path / "run", sid)["status"] == "completed"

    async def test_a_failed_write_is_logged_and_the_report_stands(
        self, client: ServiceClient, tmp_path: Path
    ) -> None:
        """1. The evaluation folder holds a directory where `outcome.json` is written
           (its temporary name), so writing it fails.
        2. The observation is stored all the same, and the failure is logged."""
        eid = await new_experiment(client, 1, kind=["ok", "crash"])
        await queue_suggestions(client, eid, [{"x": 0.5, "kind": "ok"}])
        (sid,) = [s.id for s in await client.open_suggestions(eid)]
        blocker = tmp_path / "evaluations" / f"{sid}-1" / f".{OUTCOME_FILE}.tmp"
        blocker.mkdir(parents=True)
        with capture_logs() as logs:
            coordinator, reason = await _run(client, eid, tmp_path)
        assert reason is ExitReason.BUDGET_REACHED and coordinator.stats.completed == 1
        (observation,) = await client.observations(eid)
        assert observation.value == 0.5
        (event,) = [e for e in logs if e["event"] == "outcome_file_failed"]
        assert event["folder"] == str(blocker.parent) and "IsADirectoryError" in event["error"]
        assert not (blocker.parent / OUTCOME_FILE).exists()


class TestResumeCounts:
    """A resumed run knows how many suggestions it adopted and how many results it replayed."""

    async def test_adopted_and_replayed(self, client: ServiceClient, tmp_path: Path) -> None:
        from sigopt_service.models import MetricEvaluation

        eid = await new_experiment(client, 4, kind=["ok", "crash"])
        await queue_suggestions(client, eid, [{"x": 0.1, "kind": "ok"}] * 3)
        first = sorted((s.id for s in await client.open_suggestions(eid)), key=int)[0]
        journal = ReportJournal(tmp_path / "reports.jsonl")
        await journal.record(
            first, [MetricEvaluation(name="value", value=0.1)], False, {RUN_ID_KEY: "test-run"}
        )
        worker = SubprocessWorker([sys.executable, str(SCRIPT), "{kind}", "{x}"])
        coordinator = Coordinator(
            client,
            worker,
            experiment_id=eid,
            journal=journal,
            settings=CoordinatorSettings(workers=1, run_id="test-run"),
        )
        try:
            with anyio.fail_after(60):
                await coordinator.run()
        finally:
            await worker.aclose()
            journal.close()
        assert (coordinator.stats.adopted, coordinator.stats.replayed) == (2, 1)
        assert coordinator.stats.is_resumed
