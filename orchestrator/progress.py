"""Showing a run's progress: a live rich panel on a terminal, log lines otherwise."""

from __future__ import annotations

import time
from types import TracebackType

import structlog
from rich.console import Console
from rich.live import Live
from rich.table import Table

from orchestrator.coordinator import RunStats

log = structlog.get_logger()


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def rate_and_eta(stats: RunStats, now: float) -> tuple[float, float | None]:
    elapsed = max(now - stats.started_at, 1e-9)
    rate = stats.finished / elapsed
    remaining = stats.budget - stats.observed
    return rate, (remaining / rate if rate > 0 else None)


def render(stats: RunStats, experiment_id: str, now: float) -> Table:
    rate, eta = rate_and_eta(stats, now)
    table = Table(title=f"experiment {experiment_id}", show_header=False, expand=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("observations", f"{stats.observed} / {stats.budget}")
    table.add_row("completed", str(stats.completed))
    table.add_row("failed", str(stats.failed))
    table.add_row("running (open)", str(stats.running))
    best = "-" if stats.best_value is None else f"{stats.best_value:.6g}"
    table.add_row("best value", best)
    if stats.best_assignments:
        table.add_row(
            "best assignments",
            ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in stats.best_assignments.items()
            ),
        )
    table.add_row("rate", f"{rate:.2f} evaluations/s")
    table.add_row("time left", _fmt_s(eta))
    return table


class LiveProgress:
    """A rich Live panel, refreshed by rich's own timer; `update` only stores the stats."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._stats: RunStats | None = None
        self._experiment_id = "?"
        self._live: Live | None = None

    def started(self, experiment_id: str, service_url: str) -> None:
        self._experiment_id = experiment_id
        self._console.print(f"experiment [bold]{experiment_id}[/] on {service_url}")

    def update(self, stats: RunStats) -> None:
        self._stats = stats
        if self._live is not None:
            self._live.update(render(stats, self._experiment_id, time.monotonic()))

    def __enter__(self) -> LiveProgress:
        self._live = Live(console=self._console, refresh_per_second=4, transient=False)
        self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            if self._stats is not None:
                self._live.update(render(self._stats, self._experiment_id, time.monotonic()))
            self._live.__exit__(exc_type, exc, tb)


class LogProgress:
    """One `progress` log event at most every `interval_s` seconds."""

    def __init__(self, interval_s: float = 5.0) -> None:
        self._interval_s = interval_s
        self._last = 0.0

    def started(self, experiment_id: str, service_url: str) -> None:
        log.info("run_attached", experiment_id=experiment_id, service_url=service_url)

    def update(self, stats: RunStats) -> None:
        now = time.monotonic()
        if now - self._last < self._interval_s:
            return
        self._last = now
        rate, eta = rate_and_eta(stats, now)
        log.info(
            "progress",
            observed=stats.observed,
            budget=stats.budget,
            completed=stats.completed,
            failed=stats.failed,
            running=stats.running,
            best_value=stats.best_value,
            rate_per_s=round(rate, 3),
            eta_s=None if eta is None else round(eta, 1),
        )

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
