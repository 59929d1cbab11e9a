"""`orchestrator dashboard [CONFIG|RUN_DIR] [--port P] [--host H] [--experiment-id ID]`:
a run's experiment in the browser after the run, whose embedded service stopped with it.

It serves the run's SQLite database read-only (`ServiceConfig.read_only`: no suggestion
or observation can be made through it) in this process, prints the experiment's analysis
page and the experiments list, and runs until SIGINT or SIGTERM (then exit 0). TARGET is

- a run folder: its `service.db`; the experiment from its `state.json`;
- a config file: its `service.db` (default `<run folder>/service.db`); the experiment
  from `experiment.id`, else from its run folder's `state.json`;
- a SQLite file (`orchestrator serve --db`'s database): the file; the experiment only
  from `--experiment-id` (else the experiments list alone).

`--experiment-id` wins over what the folder or config says. An experiment that lives on
a service at a URL (the config's `service.url`, or the one its run folder recorded) has
its pages there: the command prints that service's URL and exits 0, starting nothing.
The default port is `DASHBOARD_PORT`, so that the URL `orchestrator run` prints at its end
names it; a busy port is exit 2 with the way out (`--port 0` picks a free one).
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import anyio
import structlog
from pydantic import ValidationError
from rich.console import Console

from orchestrator.client import RetryPolicy, ServiceClient
from orchestrator.config import DEFAULT_TOKEN_ENV, load_config
from orchestrator.errors import ConfigError, ServiceRejected
from orchestrator.run_state import EMBEDDED, load_state
from orchestrator.runner import recorded_service
from sigopt_service.config import ServiceConfig, is_loopback
from sigopt_service.errors import DatabaseError
from sigopt_service.http import running_service

log = structlog.get_logger()

#: Where a dashboard listens unless told otherwise (`--port`).
DASHBOARD_PORT = 8080
DASHBOARD_HOST = "127.0.0.1"
#: The first bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"
#: One look at our own freshly started service: no retries to wait through.
_ONE_TRY = RetryPolicy(max_attempts=1, max_total_s=0)


def analysis_url(base_url: str, experiment_id: str) -> str:
    """The experiment's analysis page on the service at `base_url`, as SigOpt's path."""
    return f"{base_url}/experiment/{experiment_id}/analysis"


def explore_line(base_url: str, experiment_id: str) -> str:
    """What SigOpt's optimization loop ends with, on our service."""
    return f"Explore your experiment: {analysis_url(base_url, experiment_id)}"


def dashboard_url(host: str = DASHBOARD_HOST, port: int = DASHBOARD_PORT) -> str:
    """Where `orchestrator dashboard --host host --port port` serves."""
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


@dataclass(frozen=True)
class Target:
    """What `dashboard` shows: a database to serve here, or the service already serving
    the experiment (`remote_url`)."""

    experiment_id: str | None
    db: Path | None = None
    remote_url: str | None = None
    #: The environment variable of the token, needed to listen beyond loopback.
    token_env: str = DEFAULT_TOKEN_ENV


def resolve(target: Path, experiment_id: str | None) -> Target:
    """The database (or remote service) and experiment of a run folder, a config or a
    SQLite file; `ConfigError` (exit 2) naming what is missing."""
    if target.is_dir():
        return _of_run_folder(target, experiment_id)
    if not target.exists():
        raise ConfigError(f"no run folder or config {target}")
    with target.open("rb") as head:
        if head.read(len(SQLITE_HEADER)) == SQLITE_HEADER:
            return Target(experiment_id, db=target)
    return _of_config(target, experiment_id)


def _of_run_folder(folder: Path, experiment_id: str | None) -> Target:
    state = load_state(folder)
    eid = experiment_id or (state.experiment_id if state is not None else None)
    if state is not None and state.service not in (None, EMBEDDED):
        return Target(eid, remote_url=state.service)
    db = folder / "service.db"
    if not db.is_file():
        raise ConfigError(
            f"no service.db in {folder}: give a run folder (runs/<name>), or the run's "
            "config if its `service.db` is elsewhere"
        )
    return Target(eid, db=db)


def _of_config(path: Path, experiment_id: str | None) -> Target:
    config = load_config(path, check=False)
    state = load_state(config.run_dir())
    # The service the run folder's experiment lives on, when the config names none.
    config = recorded_service(config, state)
    eid = experiment_id or config.experiment.id
    if eid is None and state is not None:
        eid = state.experiment_id
    token_env = config.service.token_env
    if config.service.url is not None:
        return Target(eid, remote_url=config.service.url, token_env=token_env)
    db = config.service_db()
    if not db.is_file():
        raise ConfigError(
            f"no database {db} yet: run `orchestrator run {path}` first",
            file=path,
            key="service.db",
        )
    return Target(eid, db=db, token_env=token_env)


def service_config(target: Target, host: str, port: int) -> ServiceConfig:
    """The read-only service on `target.db`: open on loopback, as the run's embedded
    service was; beyond it, the token of `target.token_env` is required."""
    assert target.db is not None
    token = os.environ.get(target.token_env)
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"{host} is not a loopback address: a dashboard there needs an API token; "
            f"set ${target.token_env} (the config's `service.token_env`)",
            key="--host",
        )
    try:
        return ServiceConfig(
            host=host,
            port=port,
            db=target.db,
            read_only=True,
            tokens=(token,) if token and not is_loopback(host) else (),
        )
    except ValidationError as exc:
        raise ConfigError(str(exc.errors()[0]["msg"]), key="--host") from None


def _listen_error(config: ServiceConfig, exc: OSError) -> ConfigError:
    where = f"{config.host}:{config.port}"
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(
            f"port {config.port} is in use on {config.host} (another dashboard or "
            "service?): give --port P, or --port 0 for a free one",
            key="--port",
        )
    if exc.errno == errno.EACCES:
        return ConfigError(f"not allowed to listen on {where}: give --port 1024 or above")
    return ConfigError(f"cannot listen on {where}: {exc.strerror or exc}", key="--host")


async def _check_experiment(url: str, target: Target, token: str | None) -> None:
    """The experiment is in the database: else exit 2 now, not a 404 in the browser."""
    assert target.experiment_id is not None
    async with ServiceClient(url, token=token, retry=_ONE_TRY) as client:
        try:
            await client.get_experiment(target.experiment_id)
        except ServiceRejected as exc:
            if exc.status != 404:
                raise
            raise ConfigError(
                f"no experiment {target.experiment_id} in {target.db}", key="--experiment-id"
            ) from None


def _print_remote(console: Console, target: Target) -> None:
    assert target.remote_url is not None
    if target.experiment_id is not None:
        say(console, explore_line(target.remote_url, target.experiment_id))
    say(console, f"All experiments: {target.remote_url}/experiments")
    say(
        console,
        f"(the service at {target.remote_url} serves these pages itself: nothing to start here)",
    )


def say(console: Console, line: str) -> None:
    """A line for the user, whole (never wrapped, never read as markup), at once: a
    reader of a pipe (a test, `tee`) sees it while the command still runs."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.file.flush()


async def dashboard(args: argparse.Namespace, console: Console) -> int:
    target = await anyio.to_thread.run_sync(resolve, args.target, args.experiment_id)
    if target.remote_url is not None:
        _print_remote(console, target)
        return 0
    config = service_config(target, args.host, args.port)
    token = config.tokens[0] if config.tokens else None
    # Open before the service starts: a Ctrl-C during start-up then stops it cleanly.
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with AsyncExitStack() as stack:
            try:
                url = await stack.enter_async_context(running_service(config))
            except OSError as exc:
                raise _listen_error(config, exc) from exc
            except DatabaseError as exc:
                raise ConfigError(f"cannot serve {target.db}: {exc.message}") from exc
            if target.experiment_id is not None:
                await _check_experiment(url, target, token)
                say(console, explore_line(url, target.experiment_id))
            say(console, f"All experiments: {url}/experiments")
            say(
                console,
                f"Serving {target.db} read-only (nothing can be changed through it); "
                "Ctrl-C stops it",
            )
            async for signum in signals:
                log.info("dashboard_stopping", signal=signal.Signals(signum).name)
                break
    say(console, "dashboard stopped")
    return 0
