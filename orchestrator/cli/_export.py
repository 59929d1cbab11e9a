"""`orchestrator export [ID] [--config F | --api-url U] [--format csv|json] [--output FILE]`:
an experiment's data out of the service, through the API (all pages).

- csv: one row per observation, failed ones included, oldest first: the service's history
  download (`GET /experiment/{id}/historydownload`), byte for byte: the same formatter
  (`sigopt_service.history_csv`) over the API's objects, since the orchestrator reaches
  the service through its API only.
- json: `{"experiment": ..., "observations": [...], "suggestions": [...]}`, each object
  as the API gives it (lists newest first; suggestions open and closed).

`--output -` or none writes standard output, the data and nothing else; a file gets a
line on the console saying what was written. An unknown experiment is exit 2 naming it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import anyio
from rich.console import Console
from rich.markup import escape

from orchestrator.cli._common import EXIT_CONFIG, experiment_of, query_client, query_config
from orchestrator.errors import ConfigError, ServiceRejected
from sigopt_service.history_csv import history_csv
from sigopt_service.models import Experiment, Observation, Suggestion


async def export(args: argparse.Namespace, console: Console) -> int:
    if args.api_url is not None and not args.api_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"must start with http:// or https://, got {args.api_url!r}", key="--api-url"
        )
    config = await query_config(args)
    eid = experiment_of(args, config)
    async with query_client(args, config) as client:
        try:
            experiment = await client.get_experiment(eid)
        except ServiceRejected as exc:
            if exc.status != 404:
                raise
            console.print(f"[red]error:[/] no experiment {escape(eid)} on {client.base_url}")
            return EXIT_CONFIG
        observations = await client.observations(eid)
        suggestions = await client.suggestions(eid) if args.format == "json" else []
    if args.format == "csv":
        # The API lists newest first; the history download is oldest first.
        text = history_csv(experiment, reversed(observations))
    else:
        text = experiment_json(experiment, observations, suggestions)
    if args.output in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    output = Path(args.output)
    try:
        await anyio.to_thread.run_sync(_write, output, text)
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}", key="--output") from exc
    console.print(
        f"exported {len(observations)} observation(s) of experiment {escape(eid)} to "
        f"{escape(str(output))}",
        soft_wrap=True,
        highlight=False,
    )
    return 0


def experiment_json(
    experiment: Experiment, observations: list[Observation], suggestions: list[Suggestion]
) -> str:
    """The experiment with its observations and suggestions, as the API gives each."""
    data = {
        "experiment": experiment.model_dump(mode="json"),
        "observations": [o.to_wire() for o in observations],
        "suggestions": [s.model_dump(mode="json") for s in suggestions],
    }
    return json.dumps(data, indent=2) + "\n"


def _write(path: Path, text: str) -> None:
    # newline="": the CSV's own line ends (\r\n, as RFC 4180 has them) stay as they are.
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(text)
