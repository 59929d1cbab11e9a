"""The live display shows the run's counters, best value and time left."""

from __future__ import annotations

import io

from rich.console import Console

from orchestrator.coordinator import RunStats
from orchestrator.progress import LiveProgress, rate_and_eta, render


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
