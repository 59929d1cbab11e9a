"""`orchestrator status|best|suggestions`: ask the service about an experiment.

With `--config F` and no EXPERIMENT the experiment is the one F's run folder drives.
`--json` prints what the service says (plus, for `status`, the best values and the
failure count); without it, one table column per parameter and per metric.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestrator.cli._common import experiment_of, print_table, query_client, query_config
from orchestrator.client import ServiceClient
from orchestrator.coordinator import CPUS_KEY, GPUS_KEY, RUN_ID_KEY
from sigopt_service.models import BestAssignments, Experiment, MetricEvaluation

#: The metadata keys of an open suggestion that say who holds it, as table columns.
SUGGESTION_OWNER = (RUN_ID_KEY, "host", "worker_slot")
#: What its evaluation holds, as columns when some suggestion holds any.
SUGGESTION_RESOURCES = (GPUS_KEY, CPUS_KEY)


async def query(args: argparse.Namespace, console: Console) -> int:
    config = await query_config(args)
    eid = experiment_of(args, config)
    async with query_client(args, config) as client:
        if args.command == "status":
            return await _status(client, eid, args, console)
        if args.command == "best":
            return await _best(client, eid, args, console)
        return await _suggestions(client, eid, args, console)


async def _status(
    client: ServiceClient, eid: str, args: argparse.Namespace, console: Console
) -> int:
    e = await client.get_experiment(eid)
    opened = await client.open_suggestions(eid)
    best = await client.best_assignments(eid)
    observations = await client.observations(eid)
    data: dict[str, Any] = {
        "id": e.id,
        "name": e.name,
        "state": e.state.value,
        "observation_count": e.progress.observation_count if e.progress else 0,
        "observation_budget": e.observation_budget,
        "open_suggestions": len(opened),
        # The first of the best (a multimetric experiment has a frontier: see `best`).
        "best_values": metric_values(best[0].values) if best else None,
        "failed_observations": sum(1 for o in observations if o.failed),
    }
    if args.json:
        console.print_json(json.dumps(data))
        return 0
    table = Table(title=f"status of experiment {eid}")
    table.add_column("field")
    table.add_column("value")
    for key, value in data.items():
        if key == "best_values":
            shown = "none yet" if value is None else _pairs(value)
            table.add_row(
                "best", shown + (f"  ({len(best)} on the frontier)" if len(best) > 1 else "")
            )
        else:
            table.add_row(key.replace("_", " "), "none" if value is None else fmt(value))
    print_table(console, table)
    return 0


async def _best(client: ServiceClient, eid: str, args: argparse.Namespace, console: Console) -> int:
    best = await client.best_assignments(eid)
    if args.json:
        console.print_json(json.dumps([b.to_wire() for b in best]))
        return 0
    if not best:
        console.print(f"no best assignments yet for experiment {eid}: no completed observation")
        return 0
    print_table(console, best_table(await client.get_experiment(eid), best))
    return 0


async def _suggestions(
    client: ServiceClient, eid: str, args: argparse.Namespace, console: Console
) -> int:
    opened = await client.open_suggestions(eid)
    if args.json:
        console.print_json(json.dumps([s.model_dump(mode="json") for s in opened]))
        return 0
    if not opened:
        console.print(f"no open suggestions for experiment {eid}")
        return 0
    params = parameter_names(
        [defined_parameters(await client.get_experiment(eid))] + [s.assignments for s in opened]
    )
    table = Table(title=f"open suggestions of experiment {eid}")
    table.add_column("id")
    # Who holds it: the run that asked for it (its metadata), on which host and slot,
    # with which GPUs and cores when the run shares them out.
    held = [k for k in SUGGESTION_RESOURCES if any((s.metadata or {}).get(k) for s in opened)]
    owner_keys = [*SUGGESTION_OWNER, *held]
    for column in owner_keys:
        table.add_column(column.replace("_", " "))
    for name in params:
        table.add_column(name, justify="right")
    for s in opened:
        owner = s.metadata or {}
        table.add_row(
            s.id,
            *(fmt(owner.get(key)) for key in owner_keys),
            *(fmt(s.assignments.get(p)) for p in params),
        )
    print_table(console, table)
    return 0


def best_table(experiment: Experiment, best: list[BestAssignments]) -> Table:
    params = parameter_names([defined_parameters(experiment)] + [b.assignments for b in best])
    metrics = parameter_names(
        [defined_metrics(experiment)] + [metric_values(b.values) for b in best]
    )
    table = Table(title=f"best assignments of experiment {experiment.id}")
    table.add_column("id")
    for name in params:
        table.add_column(name, justify="right")
    for name in metrics:
        table.add_column(name, justify="right", style="bold")
    for b in best:
        values = metric_values(b.values)
        table.add_row(
            b.id,
            *(fmt(b.assignments.get(p)) for p in params),
            *(fmt(values.get(m)) for m in metrics),
        )
    return table


def defined_parameters(experiment: Experiment) -> dict[str, None]:
    """The experiment's parameter names, in the order of its definition (the service
    returns assignments sorted by name)."""
    return dict.fromkeys(p.name for p in experiment.parameters)


def defined_metrics(experiment: Experiment) -> dict[str, None]:
    return dict.fromkeys(m.name or "value" for m in experiment.metrics)


def metric_values(values: Iterable[MetricEvaluation]) -> dict[str, float | None]:
    """Metric name → value; an unnamed (single) metric is called `value`."""
    return {v.name or "value": v.value for v in values}


def parameter_names(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key of `rows`, in order of first appearance (conditionals leave some out)."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def fmt(value: Any) -> str:
    """A cell: floats to 6 significant digits, a missing value as an empty cell, text
    escaped (a categorical value or a name like `[x]` is not rich markup)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return escape(str(value))


def _pairs(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={fmt(v)}" for k, v in values.items())
