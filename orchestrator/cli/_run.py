"""`orchestrator run`: the job under a two-stage signal handler, its display, its summary.

The console (stdout) carries the lines for the user in both display modes: with the live
panel they print above it; with `--log-format` (or off a terminal) the log events go to
stderr, so a line on stdout mixes no formats. Among them: the experiment's update when
the config changed its budget, name, bandwidth or metadata (the `experiment_updated`
event says the same in the logs), the end-of-run summary, and `Explore your experiment:
URL` (its analysis page) once the experiment is known and again at the end, as SigOpt's
loop ends. The embedded service stops with the run, so the end's URL is the one
`orchestrator dashboard` serves, with the command that serves it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import structlog
from rich.console import Console

from orchestrator.cli._common import EXIT_CODES
from orchestrator.cli._dashboard import dashboard_url, explore_line, say
from orchestrator.config import OrchestratorConfig
from orchestrator.coordinator import ExitReason, RunStats
from orchestrator.progress import (
    LiveProgress,
    LogProgress,
    budget_text,
    failure_report,
    resumed_text,
)
from orchestrator.runner import JobResult, run_job

log = structlog.get_logger()


async def _watch_signals(
    stop: anyio.Event,
    force: anyio.Event,
    job: anyio.CancelScope,
    grace_s: float,
    console: Console,
    on_stop: str = "leave_open",
) -> None:
    """First signal: stop (drain). Second: cancel evaluations, and the whole job if it is
    still busy `grace_s` later (a service that does not answer). Third: cancel at once.
    Each says what it does on the console (above the live panel, when there is one)."""
    fate = "are deleted" if on_stop == "delete" else "stay open for resume"
    async with anyio.create_task_group() as tg:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                name = signal.Signals(signum).name
                if not stop.is_set():
                    log.info("stop_requested", signal=name)
                    console.print(
                        f"[yellow]{name}: no new suggestions; running evaluations may "
                        "finish (signal again to cancel them)[/]"
                    )
                    stop.set()
                elif not force.is_set():
                    log.info("cancel_requested", signal=name)
                    console.print(
                        f"[yellow]{name} again: cancelling running evaluations; their "
                        f"suggestions {fate} (signal again to abort at once)[/]"
                    )
                    force.set()
                    tg.start_soon(_cancel_after, job, grace_s)
                else:
                    log.warning("abort_requested", signal=name)
                    console.print(f"[red]{name} a third time: aborting[/]")
                    job.cancel()


async def _cancel_after(scope: anyio.CancelScope, delay_s: float) -> None:
    await anyio.sleep(delay_s)
    scope.cancel()


async def run(config: OrchestratorConfig, args: argparse.Namespace, console: Console) -> int:
    display: LiveProgress | LogProgress = (
        LiveProgress(console) if args.log_format is None and console.is_terminal else LogProgress()
    )
    stop, force = anyio.Event(), anyio.Event()
    result: JobResult | None = None
    announced = False

    def on_progress(stats: RunStats) -> None:
        # The first call comes once the run has adopted and replayed what an earlier
        # run of its folder left: say so once, above the panel.
        nonlocal announced
        if not announced and stats.is_resumed:
            console.print(f"resumed: {resumed_text(stats)}")
        announced = True
        display.update(stats)

    def on_start(experiment_id: str, service_url: str) -> None:
        display.started(experiment_id, service_url)
        say(console, explore_line(service_url, experiment_id))

    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as job:
            # Evaluations get SIGTERM, kill_grace_s, then SIGKILL; past that, give up.
            grace_s = config.timeouts.kill_grace_s + 5.0
            tg.start_soon(_watch_signals, stop, force, job, grace_s, console, config.run.on_stop)
            with display:
                result = await run_job(
                    config,
                    fresh=args.fresh,
                    stop=stop,
                    force=force,
                    on_progress=on_progress,
                    on_start=on_start,
                    on_update=lambda eid, changed: console.print(
                        updated_text(eid, changed), soft_wrap=True, markup=False
                    ),
                )
        tg.cancel_scope.cancel()
    if result is None:
        console.print("[yellow]run cancelled; restart the same command to resume[/]")
        return EXIT_CODES[ExitReason.STOPPED]
    _print_result(result, console, args.config)
    return EXIT_CODES[result.summary.reason]


def updated_text(experiment_id: str, changed: dict[str, tuple[Any, Any]]) -> str:
    """`experiment 1 updated: observation_budget 34 -> 36, name "a" -> "b"`."""
    fields = ", ".join(
        f"{key} {json.dumps(old, default=str)} -> {json.dumps(new, default=str)}"
        for key, (old, new) in sorted(changed.items())
    )
    return f"experiment {experiment_id} updated: {fields}"


def _print_failures(result: JobResult, console: Console, config_path: Path) -> None:
    """Why evaluations failed: counts by reason, the last one's message, stderr and
    folder, and where to see them all. The breaker's trip is explained even with none."""
    s = result.summary
    if s.reason is ExitReason.FAILURE_LIMIT:
        console.print(
            "[red]the failure breaker stopped the run[/] (its limits: `failures` in the config)"
        )
    for line in failure_report(s.stats):
        # soft_wrap: a message, a stderr line or a path is never cut into pieces.
        console.print(line, soft_wrap=True)
    if s.stats.failed:
        # Where this run's service was, not where the folder says: a run with --api-url
        # or --experiment-id need not have recorded it.
        where = (
            f"--config {shlex.quote(str(config_path))}"
            if result.embedded_db is not None
            else f"--api-url {shlex.quote(result.service_url)}"
        )
        console.print(
            f"all failed observations: orchestrator observations {s.experiment_id} --failed "
            f"{where}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )


def _print_result(result: JobResult, console: Console, config_path: Path) -> None:
    s = result.summary
    console.print(
        f"run ended: [bold]{s.reason.value}[/] after {s.elapsed_s:.1f}s: "
        f"{budget_text(s.stats)} ({s.stats.completed} completed, {s.stats.failed} failed "
        "this run)"
    )
    if s.stats.failed or s.reason is ExitReason.FAILURE_LIMIT:
        _print_failures(result, console, config_path)
    if s.left_open:
        console.print(f"left open for resume: {len(s.left_open)} suggestion(s)")
    if result.best:
        b = result.best[0]
        values = ", ".join(f"{v.name or 'value'}={v.value}" for v in b.values)
        console.print(f"best: {values} with {json.dumps(b.assignments)}")
    where = (
        f"embedded service database {result.embedded_db}"
        if result.embedded_db
        else f"service {result.service_url}"
    )
    console.print(f"run folder: {result.run_dir}  (experiment {s.experiment_id}, {where})")
    if result.embedded_db is None:
        say(console, explore_line(result.service_url, s.experiment_id))
        return
    # The run's embedded service is gone: name the page where the dashboard serves it.
    say(console, explore_line(dashboard_url(), s.experiment_id))
    say(
        console,
        f"  (the run's embedded service stopped with it; serve the page with: "
        f"orchestrator dashboard {shlex.quote(str(config_path))})",
    )


def exit_despite_stuck_threads(code: int) -> int:
    """A plain-`def` objective that timed out keeps its thread (threads cannot be killed),
    and the interpreter would wait for it at exit. The run is over and every report is
    sent, so leave at once instead of hanging."""
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    deadline = time.monotonic() + 1.0
    for thread in others:  # idle pool threads end on their own within moments
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [t for t in others if t.is_alive()]
    if stuck:
        log.warning(
            "abandoned_threads_at_exit", count=len(stuck), threads=[t.name for t in stuck][:10]
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
