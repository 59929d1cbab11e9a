"""`orchestrator`: argv, logging, signals and `anyio.run`; nothing else.

    orchestrator run CONFIG [--workers N] [--api-url URL] [--experiment-id ID] [--fresh]
    orchestrator serve [--host H] [--port P] [--db PATH] [--token T]...
    orchestrator status|best|suggestions EXPERIMENT [--api-url URL | --config CONFIG]

Exit codes: 0 the budget was reached; 1 a service or unexpected error; 2 a bad config or
usage; 3 the failure breaker ended the run; 4 the worker is broken; 130 stopped by a signal.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import structlog
from rich.console import Console
from rich.table import Table

from orchestrator.client import ServiceClient
from orchestrator.config import DEFAULT_TOKEN_ENV, OrchestratorConfig, load_config
from orchestrator.coordinator import ExitReason
from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.progress import LiveProgress, LogProgress
from orchestrator.runner import JobResult, run_job, service_client
from sigopt_service.cli import add_serve_arguments, run_serve
from sigopt_service.logs import configure_logging

log = structlog.get_logger()

EXIT_CODES = {
    ExitReason.BUDGET_REACHED: 0,
    ExitReason.STOPPED: 130,
    ExitReason.FAILURE_LIMIT: 3,
    ExitReason.BROKEN_WORKER: 4,
}
EXIT_ERROR, EXIT_CONFIG = 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrator",
        description="Parallel SigOpt-style tuning on a SigOpt-compatible service",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a tuning job from a YAML config")
    run.add_argument("config", type=Path)
    run.add_argument("--workers", type=int, default=None, help="override workers.count")
    run.add_argument("--api-url", default=None, help="override service.url")
    run.add_argument("--experiment-id", default=None, help="use this existing experiment")
    run.add_argument(
        "--fresh",
        action="store_true",
        help="delete this run's leftover open suggestions instead of resuming them",
    )
    run.add_argument(
        "--log-format",
        choices=["json", "console"],
        default=None,
        help="structured log lines instead of the live display",
    )
    run.add_argument("--log-level", default=None)

    serve = sub.add_parser("serve", help="run the SigOpt-compatible service standalone")
    add_serve_arguments(serve)

    for name, text in (
        ("status", "an experiment's progress"),
        ("best", "an experiment's best assignments"),
        ("suggestions", "an experiment's open suggestions"),
    ):
        cmd = sub.add_parser(name, help=f"show {text}")
        cmd.add_argument("experiment")
        cmd.add_argument("--api-url", default=None)
        cmd.add_argument(
            "--config",
            type=Path,
            default=None,
            help="take the service from this config (starts the embedded one "
            "on its database if it has no url)",
        )
        cmd.add_argument("--json", action="store_true", help="print JSON")
    return parser


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


async def _run(config: OrchestratorConfig, args: argparse.Namespace, console: Console) -> int:
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


async def _query(args: argparse.Namespace, console: Console) -> int:
    if args.config is not None:
        config = load_config(args.config, api_url=args.api_url, check=False)
        async with service_client(config) as client:
            return await _show(client, args, console)
    if args.api_url is None:
        raise ConfigError("give --api-url URL or --config FILE", key="--api-url")

    async with ServiceClient(args.api_url, token=os.environ.get(DEFAULT_TOKEN_ENV)) as client:
        return await _show(client, args, console)


async def _show(client: ServiceClient, args: argparse.Namespace, console: Console) -> int:
    eid = args.experiment
    if args.command == "status":
        e = await client.get_experiment(eid)
        opened = await client.open_suggestions(eid)
        data: Any = {
            "id": e.id,
            "name": e.name,
            "state": e.state.value,
            "observation_count": e.progress.observation_count if e.progress else 0,
            "observation_budget": e.observation_budget,
            "open_suggestions": len(opened),
        }
    elif args.command == "best":
        data = [b.to_wire() for b in await client.best_assignments(eid)]
    else:
        data = [s.model_dump(mode="json") for s in await client.open_suggestions(eid)]
    if args.json:
        console.print_json(json.dumps(data))
        return 0
    table = Table(title=f"{args.command} of experiment {eid}")
    if isinstance(data, dict):
        table.add_column("field")
        table.add_column("value")
        for k, v in data.items():
            table.add_row(k, str(v))
    else:
        table.add_column("id")
        table.add_column("assignments")
        table.add_column("values / metadata")
        for item in data:
            extra = item.get("values") or item.get("metadata")
            table.add_row(str(item["id"]), json.dumps(item["assignments"]), json.dumps(extra))
    console.print(table)
    return 0


def _sole_error(exc: BaseException) -> BaseException:
    """The one error inside (nested) task-group exception groups, if there is just one."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _guarded(fn: Callable[[], Awaitable[int]], console: Console) -> int:
    try:
        return anyio.run(fn)
    except (OrchestratorError, BaseExceptionGroup) as raised:
        exc = _sole_error(raised)
        if isinstance(exc, ConfigError):
            console.print(f"[red]config error:[/] {exc}")
            return EXIT_CONFIG
        if isinstance(exc, OrchestratorError):
            console.print(f"[red]error:[/] {exc}")
            return EXIT_ERROR
        raise


def _exit_despite_stuck_threads(code: int) -> int:
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=False)
    if args.command == "serve":
        return run_serve(args)
    if args.command == "run":
        try:
            config = load_config(
                args.config,
                workers=args.workers,
                api_url=args.api_url,
                experiment_id=args.experiment_id,
            )
        except ConfigError as exc:
            console.print(f"[red]config error:[/] {exc}")
            return EXIT_CONFIG
        if args.log_format is None and console.is_terminal:
            # The live panel owns the terminal: only warnings and errors interrupt it.
            configure_logging("console", args.log_level or "warning")
        else:
            configure_logging(
                args.log_format or config.logging.format, args.log_level or config.logging.level
            )
        code = _guarded(lambda: _run(config, args, console), console)
        if config.workers.worker_kind().abandons_threads:
            return _exit_despite_stuck_threads(code)
        return code
    configure_logging("auto", "warning")
    return _guarded(lambda: _query(args, console), console)


if __name__ == "__main__":
    sys.exit(main())
