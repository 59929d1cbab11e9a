"""`orchestrator run`: the job under a two-stage signal handler, its display, its summary."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time

import anyio
import structlog
from rich.console import Console

from orchestrator.cli._common import EXIT_CODES
from orchestrator.config import OrchestratorConfig
from orchestrator.coordinator import ExitReason
from orchestrator.progress import LiveProgress, LogProgress
from orchestrator.runner import JobResult, run_job

log = structlog.get_logger()


async def _watch_signals(
    stop: anyio.Event,
    force: anyio.Event,
    job: anyio.CancelScope,
    grace_s: float,
    console: Console,
) -> None:
    """First signal: stop (drain). Second: cancel evaluations, and the whole job if it is
    still busy `grace_s` later (a service that does not answer). Third: cancel at once."""
    async with anyio.create_task_group() as tg:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                name = signal.Signals(signum).name
                if not stop.is_set():
                    log.warning("stop_requested", signal=name)
                    console.print(
                        f"[yellow]{name}: no new suggestions; running evaluations may "
                        "finish (signal again to cancel them)[/]"
                    )
                    stop.set()
                elif not force.is_set():
                    log.warning("cancel_requested", signal=name)
                    force.set()
                    tg.start_soon(_cancel_after, job, grace_s)
                else:
                    log.warning("abort_requested", signal=name)
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
    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as job:
            # Evaluations get SIGTERM, kill_grace_s, then SIGKILL; past that, give up.
            grace_s = config.timeouts.kill_grace_s + 5.0
            tg.start_soon(_watch_signals, stop, force, job, grace_s, console)
            with display:
                result = await run_job(
                    config,
                    fresh=args.fresh,
                    stop=stop,
                    force=force,
                    on_progress=display.update,
                    on_start=display.started,
                )
        tg.cancel_scope.cancel()
    if result is None:
        console.print("[yellow]run cancelled; restart the same command to resume[/]")
        return EXIT_CODES[ExitReason.STOPPED]
    _print_result(result, console)
    return EXIT_CODES[result.summary.reason]


def _print_result(result: JobResult, console: Console) -> None:
    s = result.summary
    console.print(
        f"run ended: [bold]{s.reason.value}[/] after {s.elapsed_s:.1f}s: "
        f"{s.stats.observed}/{s.stats.budget} observations ({s.stats.completed} "
        f"completed, {s.stats.failed} failed this run)"
    )
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
