"""Showing a run's progress: a live rich panel on a terminal, log lines otherwise; and the
words for its failures, which the panel and the end-of-run summary share."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from decimal import Decimal
from types import TracebackType

import structlog
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchestrator.coordinator import FailureNote, RunningEvaluation, RunStats
from workers.resources import Resources

log = structlog.get_logger()

#: Lines of the last failure's stdout, stderr or traceback in the panel (the summary
#: shows more).
PANEL_TAIL_LINES = 3
#: Running evaluations listed with their slot, GPUs and cores; the rest are counted.
PANEL_SLOT_ROWS = 16


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def rate_and_eta(stats: RunStats, now: float) -> tuple[float, float | None]:
    """Evaluations per second, and the seconds left until the budget is reached at the
    pace of this run (in a multitask experiment, the pace at which it consumes cost)."""
    elapsed = max(now - stats.started_at, 1e-9)
    rate = stats.finished / elapsed
    consumed = stats.consumed
    if consumed is None:
        remaining = stats.budget - stats.observed
        return rate, (remaining / rate if rate > 0 else None)
    spent = consumed - stats.consumed_at_start
    return rate, (float((stats.budget - consumed) / spent) * elapsed if spent > 0 else None)


def cost_text(cost: Decimal) -> str:
    """`3.25`, `10`: a budget in task cost, to two decimals, trailing zeros dropped."""
    return f"{cost:.2f}".rstrip("0").rstrip(".")


def budget_text(stats: RunStats) -> str:
    """How far the experiment is into its budget: `7/10 observations`; in a multitask
    experiment, where the budget is spent in task cost, `3.25/10 of the budget consumed
    by 13 observations`."""
    if stats.consumed is None:
        return f"{stats.observed}/{stats.budget} observations"
    return (
        f"{cost_text(stats.consumed)}/{stats.budget} of the budget consumed "
        f"by {stats.observed} observations"
    )


#: Between a count and what it counts (`8 TIMES no_metric`): never read as an exit code.
TIMES = "\N{MULTIPLICATION SIGN}"


def reasons_text(stats: RunStats) -> str:
    """This run's failures by reason, most frequent first: `8 TIMES no_metric, 2 TIMES
    exit_code` (the count first, so the reason `exit_code` never reads as an exit code)."""
    ranked = sorted(stats.failure_reasons.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{count} {TIMES} {reason}" for reason, count in ranked)


def says_exit_code(message: str, code: int) -> bool:
    """Whether `message` already gives exit code `code` (`command exited with code 1`,
    `command exited 0 but ...`), so the exit code needs no line of its own."""
    return re.search(rf"\bexit\w*\b\D{{0,20}}\b{code}\b", message) is not None


def outputs(note: FailureNote) -> list[tuple[str, str]]:
    """The failure's captured text, each with its label: what the command wrote to
    stdout and stderr, or the objective's Python traceback; empty ones left out."""
    found = [
        ("stdout", note.stdout_tail),
        ("stderr", note.stderr_tail),
        ("traceback", note.traceback),
    ]
    return [(label, text) for label, text in found if text.strip()]


def assignments_text(assignments: Mapping[str, int | float | str]) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in assignments.items()
    )


def tail_lines(text: str, count: int) -> list[str]:
    """The last `count` non-blank lines of `text`."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return lines[-count:]


def holding(stats: RunStats) -> list[RunningEvaluation]:
    """The running evaluations that hold GPUs or cores, by slot (none when the run
    shares none out)."""
    running = sorted(stats.running_by_slot.values(), key=lambda r: r.slot)
    return [r for r in running if r.gpus or r.cpus]


def holding_text(running: RunningEvaluation) -> str:
    """`suggestion 12: GPUs 0,1, cores 3`."""
    return f"suggestion {running.suggestion_id}: {Resources(running.gpus, running.cpus)}"


def resumed_text(stats: RunStats) -> str:
    return f"{stats.adopted} adopted, {stats.replayed} replayed"


def render(stats: RunStats, experiment_id: str, now: float) -> Table:
    """The panel: the experiment's count apart from this run's, the last failure, and
    `time left` (or what the run is doing instead once it stops: draining, cancelling)."""
    rate, eta = rate_and_eta(stats, now)
    table = Table(title=f"experiment {experiment_id}", show_header=False, expand=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    if stats.consumed is None:
        table.add_row("experiment observations", f"{stats.observed} / {stats.budget}")
    else:
        consumed = f"{cost_text(stats.consumed)} / {stats.budget} (task costs)"
        table.add_row("experiment budget consumed", consumed)
        table.add_row("experiment observations", str(stats.observed))
    if stats.is_resumed:
        table.add_row("this run: resumed", resumed_text(stats))
    table.add_row("this run: completed", str(stats.completed))
    failed = str(stats.failed)
    if stats.failure_reasons:
        failed += f" ({reasons_text(stats)})"
    table.add_row("this run: failed", Text(failed, style="red" if stats.failed else ""))
    table.add_row("running (open)", str(stats.running))
    held = holding(stats)
    for running in held[:PANEL_SLOT_ROWS]:
        table.add_row(f"  slot {running.slot}", holding_text(running))
    if len(held) > PANEL_SLOT_ROWS:
        table.add_row("  other slots", f"{len(held) - PANEL_SLOT_ROWS} more")
    # The experiment's best (earlier runs' included), not only this run's.
    best = "-" if stats.best_value is None else f"{stats.best_value:.6g}"
    table.add_row("experiment best", best)
    if stats.best_assignments:
        table.add_row("  assignments", Text(assignments_text(stats.best_assignments)))
    table.add_row("rate", f"{rate:.2f} evaluations/s")
    if stats.phase == "running":
        table.add_row("time left", _fmt_s(eta))
    else:
        table.add_row("time left", Text(stats.phase, style="yellow"))
    last = stats.last_failure
    if last is not None:
        # User text (messages, stderr, paths) goes in as Text: never read as rich markup.
        table.add_row(
            "last failure", Text(f"{last.reason}: {last.message} (suggestion {last.suggestion_id})")
        )
        for label, text in outputs(last):
            table.add_row(f"  {label} (end)", Text("\n".join(tail_lines(text, PANEL_TAIL_LINES))))
        if last.folder is not None:
            table.add_row("  folder", Text(str(last.folder)))
    return table


def failure_report(stats: RunStats, lines_each: int = 10) -> list[Text]:
    """The end-of-run account of this run's failures: counts by reason, then the last
    failure's message, exit code (unless the message gives it), the ends of its stdout,
    stderr or traceback, and its evaluation folder. Empty if none."""
    last = stats.last_failure
    if last is None:
        return []
    out = [Text(f"failures this run: {reasons_text(stats)}", style="red")]
    out.append(Text(f"last failure (suggestion {last.suggestion_id}): {last.reason}"))
    if last.message:
        out.append(Text(f"  {last.message}"))
    if last.exit_code is not None and not says_exit_code(last.message, last.exit_code):
        out.append(Text(f"  exit code {last.exit_code}"))
    for label, text in outputs(last):
        lines = tail_lines(text, lines_each)
        out.append(Text(f"  {label}, last {len(lines)} line(s):"))
        out.extend(Text(f"    {line}", style="dim") for line in lines)
    if last.folder is not None:
        out.append(Text(f"  evaluation folder: {last.folder}"))
    return out


class LiveProgress:
    """A rich Live panel, refreshed by rich's own timer; `update` only stores the stats.

    While it is shown, rich redirects stdout and stderr through the console: anything
    printed (log lines included) lands above the panel, never inside it.
    """

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
        # Only in a run that shares GPUs or cores out: which slot holds which.
        held = {"holding": {r.slot: holding_text(r) for r in holding(stats)}}
        # Only in a multitask experiment: the budget is spent in task cost.
        cost = {} if stats.consumed is None else {"consumed": float(stats.consumed)}
        log.info(
            "progress",
            observed=stats.observed,
            budget=stats.budget,
            completed=stats.completed,
            failed=stats.failed,
            failure_reasons=dict(stats.failure_reasons),
            running=stats.running,
            phase=stats.phase,
            best_value=stats.best_value,
            rate_per_s=round(rate, 3),
            eta_s=None if eta is None or stats.phase != "running" else round(eta, 1),
            **(held if held["holding"] else {}),
            **cost,
        )

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
