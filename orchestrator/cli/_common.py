"""What every command shares: exit codes, the console, turning an error into one line and
a code, and the client and experiment id of the query commands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TextIO

import anyio
import anyio.to_thread
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestrator.client import ServiceClient
from orchestrator.config import DEFAULT_TOKEN_ENV, OrchestratorConfig, load_config
from orchestrator.coordinator import ExitReason
from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.run_state import load_state
from orchestrator.runner import recorded_service, service_client
from sigopt_service.logs import colour_wanted

EXIT_CODES = {
    ExitReason.BUDGET_REACHED: 0,
    ExitReason.STOPPED: 130,
    ExitReason.FAILURE_LIMIT: 3,
    ExitReason.BROKEN_WORKER: 4,
}
EXIT_ERROR, EXIT_CONFIG = 1, 2


def make_console(stream: TextIO | None = None) -> Console:
    """The console of a command, on stdout.

    A terminal gets rich's usual output (wrapped to its width, the live panel). Off one,
    lines are not wrapped at all (a pipe or a log file has no width) and `is_terminal` is
    false, so no live panel and no cursor codes. Colour is decided apart, by
    `colour_wanted`: `NO_COLOR` turns it off on a terminal, `FORCE_COLOR` on off one
    (without making the pipe a terminal: rich's own reading of `FORCE_COLOR` would).
    """
    out = stream if stream is not None else sys.stdout
    try:
        tty = out.isatty()
    except ValueError:
        tty = False
    colours = colour_wanted(out)
    return Console(
        file=stream,
        force_terminal=tty,
        no_color=not colours,
        # Off a terminal rich detects no colour system; "standard" is what any reader of
        # FORCE_COLOR understands.
        color_system=("auto" if tty else "standard") if colours else None,
        soft_wrap=not tty,
    )


def print_table(console: Console, table: Table) -> None:
    """A table at the console's width on a terminal, at its natural width off one (no
    cell wrapped at 80 columns into a pipe)."""
    if console.is_terminal:
        console.print(table)
        return
    natural = console.measure(table, options=console.options.update_width(100_000)).maximum
    # `print(width=...)` cannot go past the console's width: a console of the table's own
    # width, on the same file and with the same colours, prints it.
    Console(
        file=console.file,
        width=max(natural, 20),
        force_terminal=False,
        no_color=console.no_color,
        color_system=console.color_system,  # type: ignore[arg-type]
    ).print(table)


def sole_error(exc: BaseException) -> BaseException:
    """The one error inside (nested) task-group exception groups, if there is just one."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def guarded(fn: Callable[[], Awaitable[int]], console: Console) -> int:
    try:
        return anyio.run(fn)
    except (OrchestratorError, BaseExceptionGroup) as raised:
        exc = sole_error(raised)
        if isinstance(exc, ConfigError):
            console.print(f"[red]config error:[/] {escape(str(exc))}")
            return EXIT_CONFIG
        if isinstance(exc, OrchestratorError):
            console.print(f"[red]error:[/] {escape(str(exc))}")
            return EXIT_ERROR
        raise


async def query_config(args: argparse.Namespace) -> OrchestratorConfig | None:
    """The config of `--config F`, if given (not checked as for a run: only the service
    and the run folder are read from it). Asked about its run folder's experiment, its
    service is the one that experiment lives on (`recorded_service`).

    Read in a thread: reading it may run `nvidia-smi` (`workers.gpus: auto`, for up to
    10 s), which must not hold up the event loop."""
    if args.config is None:
        return None
    return await anyio.to_thread.run_sync(_read_query_config, args)


def _read_query_config(args: argparse.Namespace) -> OrchestratorConfig:
    """Blocking: `query_config`'s work."""
    config = load_config(args.config, api_url=args.api_url, check=False)
    state = load_state(config.run_dir())
    if state is not None and args.experiment not in (None, state.experiment_id):
        return config  # another experiment: the service is the one named, or embedded
    return recorded_service(config, state)


def experiment_of(args: argparse.Namespace, config: OrchestratorConfig | None) -> str:
    """The experiment a query is about: EXPERIMENT if given, else the config's
    `experiment.id`, else the one its run folder drives (`state.json`)."""
    if args.experiment is not None:
        return str(args.experiment)
    if config is None:
        raise ConfigError(
            "give the experiment id, or --config FILE to take it from that config's run"
        )
    if config.experiment.id is not None:
        return config.experiment.id
    state = load_state(config.run_dir())
    if state is None or state.experiment_id is None:
        raise ConfigError(
            f"no run of {args.config} yet: run `orchestrator run {args.config}` first, or "
            f"give the experiment id (no experiment recorded in {config.run_dir()})"
        )
    return state.experiment_id


@asynccontextmanager
async def query_client(
    args: argparse.Namespace, config: OrchestratorConfig | None
) -> AsyncIterator[ServiceClient]:
    """The service of `--config F` (its embedded one if it has no url) or of `--api-url`."""
    if config is not None:
        async with service_client(config) as client:
            yield client
        return
    if args.api_url is None:
        raise ConfigError("give --api-url URL or --config FILE", key="--api-url")
    async with ServiceClient(args.api_url, token=os.environ.get(DEFAULT_TOKEN_ENV)) as client:
        yield client
