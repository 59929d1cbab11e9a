"""The live panel, the progress log and `orchestrator suggestions` show which slot holds
which GPUs and cores."""

from __future__ import annotations

import io
from collections.abc import Iterator

import anyio
import pytest
from rich.console import Console
from structlog.testing import capture_logs

from orchestrator.cli import main
from orchestrator.client import ServiceClient
from orchestrator.coordinator import RUN_ID_KEY, RunningEvaluation, RunStats
from orchestrator.progress import PANEL_SLOT_ROWS, LogProgress, render
from tests.orchestrator.conftest import experiment_body


def panel(stats: RunStats) -> str:
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(render(stats, "7", now=1.0))
    return out.getvalue()


def stats_with(*running: RunningEvaluation) -> RunStats:
    return RunStats(
        budget=10,
        running=len(running),
        running_by_slot={r.slot: r for r in running},
        started_at=0,
    )


class TestPanel:
    """One row per slot holding GPUs or cores; none when the run shares nothing out."""

    def test_slots_with_their_gpus_and_cores(self) -> None:
        text = panel(
            stats_with(
                RunningEvaluation(1, "12", gpus=(2, 3), cpus=(1,)),
                RunningEvaluation(0, "11", gpus=(0, 1), cpus=(0,)),
            )
        )
        lines = [line for line in text.splitlines() if "slot" in line]
        assert "slot 0" in lines[0] and "suggestion 11: GPUs 0,1, cores 0" in lines[0]
        assert "slot 1" in lines[1] and "suggestion 12: GPUs 2,3, cores 1" in lines[1]

    def test_cores_only(self) -> None:
        text = panel(stats_with(RunningEvaluation(3, "5", cpus=(6, 7))))
        assert "suggestion 5: cores 6,7" in text and "GPUs" not in text

    def test_nothing_shared_no_rows(self) -> None:
        text = panel(stats_with(RunningEvaluation(0, "1"), RunningEvaluation(1, "2")))
        assert "slot" not in text

    def test_many_slots_are_counted_past_the_first(self) -> None:
        running = [RunningEvaluation(i, str(i), cpus=(i,)) for i in range(PANEL_SLOT_ROWS + 4)]
        text = panel(stats_with(*running))
        assert f"slot {PANEL_SLOT_ROWS - 1} " in text and f"slot {PANEL_SLOT_ROWS} " not in text
        assert "4 more" in text


class TestProgressLog:
    """Off a terminal, the progress event says which slot holds what."""

    def test_holding_field(self) -> None:
        stats = stats_with(RunningEvaluation(0, "3", gpus=(0,), cpus=(1,)))
        with capture_logs() as logs:
            LogProgress(interval_s=0).update(stats)
        (event,) = [e for e in logs if e["event"] == "progress"]
        assert event["holding"] == {0: "suggestion 3: GPUs 0, cores 1"}

    def test_no_field_when_nothing_is_shared(self) -> None:
        with capture_logs() as logs:
            LogProgress(interval_s=0).update(stats_with(RunningEvaluation(0, "3")))
        (event,) = [e for e in logs if e["event"] == "progress"]
        assert "holding" not in event


@pytest.fixture
def open_suggestions(threaded_service_url: str) -> Iterator[tuple[str, str, str]]:
    """An experiment with two open suggestions: one held with GPUs and cores, one
    without (adopted from a run that shared nothing); another with one of neither."""

    async def make() -> tuple[str, str]:
        async with ServiceClient(threaded_service_url) as client:
            eid = (await client.create_experiment(experiment_body(5))).id
            await client.create_suggestion(
                eid,
                {"x": 0.5},
                metadata={RUN_ID_KEY: "r", "worker_slot": 1, "gpus": "2,3", "cpus": "1"},
            )
            await client.create_suggestion(eid, {"x": 0.25}, metadata={RUN_ID_KEY: "r"})
            plain = (await client.create_experiment(experiment_body(5))).id
            await client.create_suggestion(plain, {"x": 0.25}, metadata={RUN_ID_KEY: "r"})
            return eid, plain

    yield threaded_service_url, *anyio.run(make)


class TestSuggestionsView:
    """`orchestrator suggestions` adds `gpus` and `cpus` columns when a suggestion has them."""

    def test_columns(
        self, open_suggestions: tuple[str, str, str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        url, eid, _ = open_suggestions
        assert main(["suggestions", eid, "--api-url", url]) == 0
        out = capsys.readouterr().out
        assert columns(out)[:6] == ["id", "run id", "host", "worker slot", "gpus", "cpus"]
        row = next(line for line in out.splitlines() if "2,3" in line)
        assert [c.strip() for c in row.strip("│ ").split("│")][4:6] == ["2,3", "1"]

    def test_no_columns_when_none_holds_any(
        self, open_suggestions: tuple[str, str, str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        url, _, plain = open_suggestions
        assert main(["suggestions", plain, "--api-url", url]) == 0
        assert columns(capsys.readouterr().out) == ["id", "run id", "host", "worker slot", "x"]


def columns(table: str) -> list[str]:
    header = next(line for line in table.splitlines() if " id " in line)
    return [c.strip() for c in header.strip("┃ ").split("┃")]
