"""The command line's grammar: `run`, `serve`, `status`, `best`, `suggestions`."""

from __future__ import annotations

import argparse
from pathlib import Path

from sigopt_service.cli import add_serve_arguments


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
