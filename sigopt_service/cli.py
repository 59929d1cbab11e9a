"""Command line of the standalone service: `python -m sigopt_service` and `orchestrator serve`."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from functools import partial
from pathlib import Path
from typing import IO

import anyio
import structlog
from pydantic import ValidationError

from sigopt_service.config import PostgresUrl, ServiceConfig, database_location
from sigopt_service.http import serve
from sigopt_service.logs import configure_logging

DEFAULT_DB = Path("runs/service.db")
#: Where `--db` is read from when it is not given: a PostgreSQL URL with a password stays
#: out of the process list and of shell history.
DB_ENVIRONMENT_VARIABLE = "ORCHESTRATOR_DB"
#: How often an embedded service checks that its parent (the run) is still alive.
PARENT_CHECK_S = 0.5

log = structlog.get_logger()


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    parser.add_argument(
        "--db",
        type=_database_location,
        default=os.environ.get(DB_ENVIRONMENT_VARIABLE) or DEFAULT_DB,
        help="where to store: a SQLite file (a path, sqlite:///relative/path.db or "
        "sqlite:////absolute/path.db) or a PostgreSQL database that several service "
        "processes share (postgresql://user@host:5432/name; the password from PGPASSWORD "
        f"or ~/.pgpass). Default: ${DB_ENVIRONMENT_VARIABLE}, else runs/service.db",
    )
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        help="an admin API token (repeatable; not stored: it makes and revokes the stored "
        "ones, `orchestrator token`); required beyond loopback",
    )
    parser.add_argument(
        "--token-env",
        default=None,
        help="read one more admin token from this environment variable "
        "(keeps it out of the process list)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        help="requests per second per token; answers 429 past it",
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="SQLite: fsync every commit (survives power loss, not only a crash); "
        "PostgreSQL's durability is the server's own setting",
    )
    parser.add_argument(
        "--allow-duplicate-observations",
        action="store_true",
        help="store any number of observations per suggestion, as sigopt-server does "
        "(default: a second one is refused with 409)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the optimizer")
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="serve an existing database to look at: every request but GET, HEAD and "
        "OPTIONS is refused with 405, and the data is never written (an older file's "
        "schema is migrated first)",
    )
    parser.add_argument(
        "--log-format",
        choices=["json", "console", "auto"],
        default="auto",
        help="log lines as JSON, or for people (auto: console on a terminal, else JSON)",
    )
    parser.add_argument(
        "--exit-with-stdin",
        action="store_true",
        help="stop when standard input closes (how `orchestrator run` ties "
        "its embedded service to its own life)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        help="the least severe log events written: debug, info, warning, error",
    )


def _database_location(location: str) -> Path | PostgresUrl:
    # argparse reports an ArgumentTypeError as "argument --db: <message>".
    try:
        return database_location(location)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def config_from_args(args: argparse.Namespace) -> ServiceConfig:
    tokens = list(args.token)
    if args.token_env:
        value = os.environ.get(args.token_env)
        if not value:
            raise SystemExit(f"error: environment variable {args.token_env} is not set")
        tokens.append(value)
    try:
        return ServiceConfig(
            host=args.host,
            port=args.port,
            db=args.db,
            tokens=tuple(tokens),
            rate_limit_per_s=args.rate_limit,
            seed=args.seed,
            synchronous="FULL" if args.durable else "NORMAL",
            allow_duplicate_observations=args.allow_duplicate_observations,
            read_only=args.read_only,
        )
    except ValidationError as exc:
        raise SystemExit(f"error: {exc.errors()[0]['msg']}") from None


async def serve_until_signal(
    config: ServiceConfig, *, parent_pid: int, exit_with_stdin: bool = False
) -> None:
    """Serve until SIGINT or SIGTERM (or, with `exit_with_stdin`, until standard input
    closes or the process that started us, `parent_pid`, is gone), then close cleanly:
    every acknowledged write is already committed. `parent_pid`: read by the caller
    first thing at start-up, so a parent that dies while we start still counts."""
    async with anyio.create_task_group() as tg:
        await tg.start(serve, config)
        if exit_with_stdin:
            tg.start_soon(cancel_at_stdin_eof, tg.cancel_scope, parent_pid, sys.stdin)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("service_signal", signal=signal.Signals(signum).name)
                break
        tg.cancel_scope.cancel()


async def cancel_at_stdin_eof(scope: anyio.CancelScope, parent: int, stdin: IO[str]) -> None:
    """The embedded service's lifeline: its parent holds our stdin open. When the parent
    exits, even killed with -9, the pipe closes and we stop: no service outlives its run.
    `parent`: our parent's pid when the process started (not when this task did: the
    parent may die in between, and we would then take our new parent for it)."""
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()

    class _Watch(asyncio.Protocol):
        def connection_lost(self, exc: Exception | None) -> None:
            closed.set()

    transport, _ = await loop.connect_read_pipe(_Watch, stdin)
    try:
        # The pipe alone is not enough: a process the run forked (an objective using
        # multiprocessing) inherits its write end and would keep it open. Re-parenting
        # (our parent died) ends the service too.
        while not closed.is_set() and os.getppid() == parent:
            with anyio.move_on_after(PARENT_CHECK_S):
                await closed.wait()
        log.info("service_parent_gone")
        scope.cancel()
    finally:
        transport.close()


def run_serve(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    configure_logging(args.log_format, args.log_level)
    parent_pid = os.getppid()  # first thing: see `cancel_at_stdin_eof`
    anyio.run(
        partial(
            serve_until_signal,
            config,
            exit_with_stdin=args.exit_with_stdin,
            parent_pid=parent_pid,
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sigopt_service", description="SigOpt-compatible optimization service"
    )
    add_serve_arguments(parser)
    return run_serve(parser.parse_args(argv))
