"""`orchestrator observations [EXPERIMENT] [--failed] [--limit N]`: what each evaluation
reported, newest first, and why the failed ones failed.

A failed observation's metadata carries `failure_reason` (`exit_code`, `no_metric`,
`timeout`, `exception`...), `failure_message` and the other details of its `Failed`
outcome as `failure_*` keys (`failure_stderr_tail`, `failure_exit_code`...). The summary
line counts every observation of the experiment, whatever `--failed` and `--limit` show.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestrator.cli._common import experiment_of, print_table, query_client, query_config
from orchestrator.cli._query import (
    defined_metrics,
    defined_parameters,
    fmt,
    metric_values,
    parameter_names,
)
from sigopt_service.models import Experiment, Observation

#: Lines of a multi-line detail (a stderr tail) shown in the table; `--json` has them all.
DETAIL_LINES = 5


async def observations(args: argparse.Namespace, console: Console) -> int:
    config = await query_config(args)
    eid = experiment_of(args, config)
    async with query_client(args, config) as client:
        experiment = await client.get_experiment(eid)
        every = await client.observations(eid)
    # Newest first; a stable sort keeps the service's order within one second.
    every = sorted(every, key=lambda o: o.created, reverse=True)
    shown = [o for o in every if o.failed] if args.failed else every
    if args.limit is not None:
        shown = shown[: args.limit]
    reasons = Counter(failure_reason(o) for o in every if o.failed)
    if args.json:
        data = {
            "experiment": eid,
            "observation_count": len(every),
            "completed": len(every) - reasons.total(),
            "failed": reasons.total(),
            "failures_by_reason": dict(reasons.most_common()),
            "observations": [o.to_wire() for o in shown],
        }
        console.print_json(json.dumps(data))
        return 0
    if shown:
        print_table(console, _table(experiment, shown, failed_only=args.failed))
    else:
        kind = "failed observations" if args.failed else "observations"
        console.print(f"no {kind} in experiment {eid}")
    console.print(escape(summary(len(every), reasons)))
    if args.limit is not None and len(shown) < (reasons.total() if args.failed else len(every)):
        console.print(f"(the {len(shown)} newest shown: --limit {args.limit})")
    return 0


def failure_reason(o: Observation) -> str:
    reason = (o.metadata or {}).get("failure_reason")
    return str(reason) if reason is not None else "unknown"


def summary(total: int, reasons: Counter[str]) -> str:
    """`12 observations: 4 completed, 8 failed (no_metric 7, exit_code 1)`."""
    failed = reasons.total()
    line = f"{total} observation{'s' if total != 1 else ''}: {total - failed} completed, "
    line += f"{failed} failed"
    if failed:
        line += " (" + ", ".join(f"{r} {n}" for r, n in reasons.most_common()) + ")"
    return line


def failure_text(o: Observation) -> str:
    """`reason: message`, then one line per other `failure_*` detail (a long one cut to
    its last lines: the end of stderr says the most)."""
    meta = o.metadata or {}
    head = failure_reason(o)
    message = meta.get("failure_message")
    lines = [f"{head}: {message}" if message is not None else head]
    for key, value in meta.items():
        if not key.startswith("failure_") or key in ("failure_reason", "failure_message"):
            continue
        text = str(value).rstrip("\n")
        parts = text.splitlines() or [""]
        if len(parts) > 1:
            cut = parts[-DETAIL_LINES:]
            more = f" (last {len(cut)} of {len(parts)} lines)" if len(parts) > len(cut) else ""
            lines.append(f"{key.removeprefix('failure_')}{more}:")
            lines.extend(f"  {p}" for p in cut)
        else:
            lines.append(f"{key.removeprefix('failure_')}: {text}")
    return "\n".join(lines)


def _table(experiment: Experiment, shown: list[Observation], *, failed_only: bool) -> Table:
    params = parameter_names([defined_parameters(experiment)] + [o.assignments for o in shown])
    metrics = (
        []
        if failed_only
        else parameter_names(
            [defined_metrics(experiment)] + [metric_values(o.values) for o in shown]
        )
    )
    what = "failed observations" if failed_only else "observations"
    table = Table(title=f"{what} of experiment {experiment.id}, newest first")
    table.add_column("id")
    table.add_column("suggestion")
    for name in params:
        table.add_column(name, justify="right")
    for name in metrics:
        table.add_column(name, justify="right")
    table.add_column("failure")
    for o in shown:
        values: dict[str, Any] = metric_values(o.values)
        table.add_row(
            o.id,
            o.suggestion or "",
            *(fmt(o.assignments.get(p)) for p in params),
            *(fmt(values.get(m)) for m in metrics),
            escape(failure_text(o)) if o.failed else "",
            style="red" if o.failed else None,
        )
    return table
