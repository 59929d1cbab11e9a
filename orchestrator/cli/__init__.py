"""`orchestrator`: argv, logging, signals and `anyio.run`; nothing else.

    orchestrator run CONFIG [--workers N] [--api-url URL[,URL...]] [--experiment-id ID] [--fresh]
    orchestrator serve [--host H] [--port P] [--db PATH|sqlite:///PATH|postgresql://..] [--token T]
    orchestrator status|best|suggestions [EXPERIMENT] [--api-url URL | --config CONFIG] [--json]
    orchestrator observations [EXPERIMENT] [--failed] [--limit N] [--api-url URL | --config CONFIG]
    orchestrator init [DIRECTORY] [--kind subprocess|async|process] [--force]
    orchestrator dashboard [CONFIG|RUN_DIR] [--port P] [--host H] [--experiment-id ID]
    orchestrator export [ID] [--config F | --api-url U] [--format csv|json] [--output FILE]
    orchestrator token create|list|revoke ID|rotate ID [--api-url U | --config F] [--json]
    orchestrator db copy SRC [DST]

Exit codes: 0 the budget was reached; 1 a service or unexpected error; 2 a bad config or
usage; 3 the failure breaker ended the run; 4 the worker is broken; 130 stopped by a signal.
One module per command (`_run.py`, `_query.py`, `_observations.py`, `_init.py`,
`_dashboard.py`, `_export.py`, `_token.py`, `_db.py`), the grammar in `_parser.py`. Output
goes through `make_console`: wrapped and coloured on a terminal, neither off one (`NO_COLOR` /
`FORCE_COLOR` decide colour).
"""

from __future__ import annotations

import sys

from rich.markup import escape

from orchestrator.cli._common import EXIT_CONFIG, guarded, make_console
from orchestrator.cli._dashboard import dashboard
from orchestrator.cli._db import db
from orchestrator.cli._export import export
from orchestrator.cli._init import init
from orchestrator.cli._observations import observations
from orchestrator.cli._parser import build_parser
from orchestrator.cli._query import query
from orchestrator.cli._run import exit_despite_stuck_threads, run
from orchestrator.cli._token import token
from orchestrator.config import load_config
from orchestrator.errors import ConfigError
from sigopt_service.cli import run_serve
from sigopt_service.logs import configure_logging

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = make_console()
    if args.command == "serve":
        return run_serve(args)
    if args.command == "init":
        return init(args, console)
    if args.command == "run":
        try:
            config = load_config(
                args.config,
                workers=args.workers,
                api_url=args.api_url,
                experiment_id=args.experiment_id,
            )
        except ConfigError as exc:
            console.print(f"[red]config error:[/] {escape(str(exc))}")
            return EXIT_CONFIG
        if args.log_format is None and console.is_terminal:
            # The live panel owns the terminal: only warnings and errors interrupt it.
            configure_logging("console", args.log_level or "warning")
        else:
            configure_logging(
                args.log_format or config.logging.format, args.log_level or config.logging.level
            )
        code = guarded(lambda: run(config, args, console), console)
        if config.workers.worker_kind().abandons_threads:
            return exit_despite_stuck_threads(code)
        return code
    configure_logging("auto", "warning")
    if args.command == "observations":
        return guarded(lambda: observations(args, console), console)
    if args.command == "dashboard":
        return guarded(lambda: dashboard(args, console), console)
    if args.command == "export":
        return guarded(lambda: export(args, console), console)
    if args.command == "token":
        return guarded(lambda: token(args, console), console)
    if args.command == "db":
        return db(args, console)
    return guarded(lambda: query(args, console), console)


if __name__ == "__main__":
    sys.exit(main())
