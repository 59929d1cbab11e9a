"""The command line's grammar: `run`, `serve`, `status`, `best`, `suggestions`,
`observations`, `init`, `dashboard`, `export`, `token` (its own grammar in `_token.py`),
`db` (in `_db.py`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.cli._dashboard import DASHBOARD_HOST, DASHBOARD_PORT
from orchestrator.cli._db import add_db_parser
from orchestrator.cli._token import add_token_parser
from orchestrator.templates import KINDS as INIT_KINDS
from sigopt_service.cli import add_serve_arguments

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrator",
        description="Parallel SigOpt-style tuning on a SigOpt-compatible service",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a tuning job from a YAML config")
    run.add_argument("config", type=Path, help="the job's YAML config file")
    run.add_argument("--workers", type=int, default=None, help="override workers.count")
    run.add_argument(
        "--api-url",
        default=None,
        help="override service.url; several, comma-separated (http://a:8080,http://b:8080), "
        "are one service's processes, tried in order when one fails",
    )
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
    run.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default=None,
        help="the least severe log events shown (default: the config's logging.level; "
        "warning under the live display)",
    )

    serve = sub.add_parser("serve", help="run the SigOpt-compatible service standalone")
    add_serve_arguments(serve)

    for name, text in (
        ("status", "an experiment's progress, best value and failure count"),
        ("best", "an experiment's best assignments"),
        ("suggestions", "an experiment's open suggestions"),
        ("observations", "an experiment's observations, newest first, and why any failed"),
    ):
        cmd = sub.add_parser(name, help=f"show {text}", description=f"Show {text}.")
        _add_query_arguments(cmd)
        if name == "observations":
            cmd.add_argument("--failed", action="store_true", help="only the failed observations")
            cmd.add_argument(
                "--limit",
                type=_positive_int,
                default=None,
                metavar="N",
                help="at most the N newest (the summary line still counts them all)",
            )

    init = sub.add_parser(
        "init",
        help="write a commented starter config and a matching objective",
        description="Write a commented config and an objective that runs as written.",
    )
    init.add_argument(
        "directory",
        type=Path,
        nargs="?",
        default=Path("."),
        help="the folder to write them into (default: the current one)",
    )
    init.add_argument(
        "--kind",
        choices=INIT_KINDS,
        default="subprocess",
        help="subprocess: a train.py run as a command (default); async: an async Python "
        "function; process: a Python function in a process pool",
    )
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    _add_dashboard(sub)
    _add_export(sub)
    add_token_parser(sub)
    add_db_parser(sub)
    return parser


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected 0 to 65535, got {value}")
    return value


def _add_dashboard(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dashboard = sub.add_parser(
        "dashboard",
        help="serve a run's experiment pages, read-only, after the run",
        description="Serve a run's database read-only and print its experiment's "
        "analysis page; Ctrl-C stops it. With a service.url, print that service's page.",
    )
    dashboard.add_argument(
        "target",
        type=Path,
        nargs="?",
        default=Path("."),
        metavar="CONFIG|RUN_DIR",
        help="the run's config, its run folder (runs/<name>) or a service database "
        "(default: the current folder)",
    )
    dashboard.add_argument(
        "--port",
        type=_port,
        default=DASHBOARD_PORT,
        help=f"the port to listen on (default {DASHBOARD_PORT}; 0 picks a free one)",
    )
    dashboard.add_argument(
        "--host",
        default=DASHBOARD_HOST,
        help=f"the address to listen on (default {DASHBOARD_HOST}; beyond loopback the "
        "config's token is required)",
    )
    dashboard.add_argument(
        "--experiment-id",
        default=None,
        help="the experiment to show (default: the one the run folder drives)",
    )


def _add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = sub.add_parser(
        "export",
        help="write an experiment's observations as CSV, or all of it as JSON",
        description="Write an experiment's observations as CSV (the columns of the "
        "service's history download), or the experiment with its observations and "
        "suggestions as JSON, fetched through the API.",
    )
    export.add_argument(
        "experiment",
        nargs="?",
        default=None,
        metavar="ID",
        help="the experiment id (default with --config: the experiment its run folder "
        "drives, from state.json)",
    )
    export.add_argument(
        "--api-url",
        default=None,
        help="the service's URL (its token from $SIGOPT_API_TOKEN)",
    )
    export.add_argument(
        "--config",
        type=Path,
        default=None,
        help="take the service from this config (starts the embedded service on its "
        "database if it has no url)",
    )
    export.add_argument(
        "--format",
        choices=["csv", "json"],
        default="csv",
        help="csv: one row per observation (default); json: the experiment, its "
        "observations and its suggestions",
    )
    export.add_argument(
        "--output",
        default=None,
        metavar="FILE",
        help="the file to write (default, or -: standard output)",
    )


def _add_query_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "experiment",
        nargs="?",
        default=None,
        metavar="EXPERIMENT",
        help="the experiment id (default with --config: the experiment its run folder "
        "drives, from state.json)",
    )
    cmd.add_argument(
        "--api-url",
        default=None,
        help="the service's URL, or several comma-separated to fail over between (its "
        "token from $SIGOPT_API_TOKEN)",
    )
    cmd.add_argument(
        "--config",
        type=Path,
        default=None,
        help="take the service and the experiment from this config (starts the "
        "embedded service on its database if it has no url)",
    )
    cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")
