"""`orchestrator status|best|suggestions`: ask the service about an experiment."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from rich.console import Console
from rich.table import Table

from orchestrator.client import ServiceClient
from orchestrator.config import DEFAULT_TOKEN_ENV, load_config
from orchestrator.errors import ConfigError
from orchestrator.runner import service_client


async def query(args: argparse.Namespace, console: Console) -> int:
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
