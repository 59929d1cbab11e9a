"""The live display shows the run's counters, best value and time left."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import anyio
import pytest
from rich.console import Console

from orchestrator.client import ServiceClient
from orchestrator.coordinator import BudgetLedger, Coordinator, CoordinatorSettings, RunStats
from orchestrator.progress import LiveProgress, budget_text, rate_and_eta, render
from tests.orchestrator.conftest import experiment_body
from workers.async_function import AsyncFunctionWorker


class TestProgress:
    """Rendering reads `RunStats`; rate and time left follow from finished evaluations."""

    def test_rate_and_eta(self) -> None:
        stats = RunStats(budget=100, observed_at_start=10, completed=15, failed=5, started_at=0)
        rate, eta = rate_and_eta(stats, now=10.0)
        assert rate == 2.0 and eta == (100 - 30) / 2.0

    def test_render_and_live(self) -> None:
        stats = RunStats(
            budget=40,
            completed=3,
            failed=1,
            running=4,
            best_value=0.97,
            best_assignments={"C": 21.1, "kernel": "rbf"},
            started_at=0,
        )
        out = io.StringIO()
        console = Console(file=out, force_terminal=True, width=100)
        console.print(render(stats, "7", now=2.0))
        text = out.getvalue()
        for fragment in ("experiment 7", "4 / 40", "0.97", "kernel=rbf", "C=21.1", "2.00"):
            assert fragment in text, fragment
        with LiveProgress(console) as live:
            live.started("7", "http://127.0.0.1:1")
            live.update(stats)
        assert "running (open)" in out.getvalue()


def multitask_stats(consumed: str, *, at_start: str = "0", finished: int = 0) -> RunStats:
    """A multitask run's counters over a budget of 10, `consumed` in task cost."""
    ledger = BudgetLedger()
    ledger.start(10, observed=Decimal(consumed), foreign=0, adopted=0)
    return RunStats(
        budget=10,
        completed=finished,
        started_at=0,
        ledger=ledger,
        consumed_at_start=Decimal(at_start),
    )


class TestMultitask:
    """In a multitask experiment the budget is spent in task cost, not in observations:
    the panel, the time left and the end-of-run line say how much is consumed."""

    def test_the_panel_shows_the_cost_over_the_budget(self) -> None:
        stats = multitask_stats("3.25", finished=13)
        out = io.StringIO()
        Console(file=out, width=120, color_system=None).print(render(stats, "7", now=10.0))
        text = out.getvalue()
        assert "experiment budget consumed" in text and "3.25 / 10 (task costs)" in text
        assert "13 / 10" not in text  # no count over a budget it is not spent in

    def test_the_end_of_run_line(self) -> None:
        assert budget_text(multitask_stats("10.0", finished=25)) == (
            "10/10 of the budget consumed by 25 observations"
        )
        assert budget_text(RunStats(budget=10, completed=7)) == "7/10 observations"

    def test_time_left_at_the_pace_cost_is_consumed(self) -> None:
        """2.5 of cost consumed in 10 s by this run (1 before it): 6.5 left is 26 s."""
        stats = multitask_stats("3.5", at_start="1", finished=20)
        rate, eta = rate_and_eta(stats, now=10.0)
        assert rate == 2.0 and eta == pytest.approx(26.0)
        assert rate_and_eta(multitask_stats("1", at_start="1"), now=10.0)[1] is None

    async def test_a_run_shows_what_the_service_counts(self, client: ServiceClient) -> None:
        """A real multitask run: what the display shows, live and at the end, is the cost
        its observations consumed as the service counts it."""
        tasks = [{"name": "cheap", "cost": 0.25}, {"name": "full", "cost": 1.0}]
        body = {**experiment_body(3, type_="random"), "tasks": tasks}
        eid = (await client.create_experiment(body)).id
        shown: list[str] = []

        async def objective(assignments: dict[str, Any]) -> float:
            return float(assignments["x"])

        coordinator = Coordinator(
            client,
            AsyncFunctionWorker(objective),
            experiment_id=eid,
            settings=CoordinatorSettings(workers=2, run_id="display"),
            on_progress=lambda stats: shown.append(budget_text(stats)),
        )
        with anyio.fail_after(60):
            summary = await coordinator.run()
        experiment = await client.get_experiment(eid)
        assert experiment.progress is not None
        consumed = Decimal(repr(experiment.progress.observation_budget_consumed))
        count = experiment.progress.observation_count
        assert summary.stats.consumed == consumed
        final = f"{consumed:.2f}".rstrip("0").rstrip(".")
        assert budget_text(summary.stats) == (
            f"{final}/3 of the budget consumed by {count} observations"
        )
        assert shown[0] == "0/3 of the budget consumed by 0 observations"
        assert shown[-1] == budget_text(summary.stats)
