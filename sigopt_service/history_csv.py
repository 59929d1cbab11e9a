"""An experiment's observations as CSV, as SigOpt's history download: what the service's
`GET /experiment/{id}/historydownload` sends and `orchestrator export` writes (from the
API's objects), written once so that the two are the same bytes.

    text = history_csv(experiment, observations)   # observations in row order

One row per observation. Columns: `HISTORY_COLUMNS` (`created` in ISO 8601 UTC, `failed`
as `true`/`false`), `task` (the task's name, multitask experiments only), then
`parameter.NAME` per parameter, `value.METRIC` and
`value_stddev.METRIC` per metric (`metric_label`: `value` for an unnamed one), and
`metadata.KEY` per metadata key any observation has but `failure_reason` (sorted). Empty
cells mean no value. Prefixes keep a parameter called `id` apart from the id. Cells hold
the data as stored: no spreadsheet formula escaping, which would change what a program
reads back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime

from sigopt_service.best import metric_evaluation
from sigopt_service.models import Experiment, Observation

#: The metadata key the orchestrator writes a failure's reason to.
FAILURE_REASON_KEY = "failure_reason"
#: The first columns; then each parameter, each metric's value and stddev, each metadata key.
HISTORY_COLUMNS = ("id", "suggestion", "created", "failed", FAILURE_REASON_KEY)


def metric_label(name: str | None) -> str:
    """A metric's name, or what an unnamed (single) metric is called in the CSV and on
    the pages."""
    return name if name is not None else "value"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # every digit: the CSV reads back as the same float
    return str(value)


def _iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def history_csv(experiment: Experiment, observations: Iterable[Observation]) -> str:
    """The CSV text, a row per observation in the order given (the service's: oldest
    first), lines ending in CRLF as RFC 4180 has them."""
    observations = list(observations)
    meta_keys = sorted(
        {k for o in observations for k in (o.metadata or {}) if k != FAILURE_REASON_KEY}
    )
    header = [*HISTORY_COLUMNS, *(["task"] if experiment.tasks else [])]
    header += [f"parameter.{p.name}" for p in experiment.parameters]
    for metric in experiment.metrics:
        label = metric_label(metric.name)
        header += [f"value.{label}", f"value_stddev.{label}"]
    header += [f"metadata.{k}" for k in meta_keys]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for o in observations:
        metadata = o.metadata or {}
        row: list[object] = [o.id, o.suggestion, _iso(o.created), o.failed]
        row.append(metadata.get(FAILURE_REASON_KEY))
        if experiment.tasks:
            row.append(None if o.task is None else o.task.name)
        row += [o.assignments.get(p.name) for p in experiment.parameters]
        for metric in experiment.metrics:
            evaluation = metric_evaluation(experiment, o, metric)
            row += (
                [None, None] if evaluation is None else [evaluation.value, evaluation.value_stddev]
            )
        row += [metadata.get(k) for k in meta_keys]
        writer.writerow([_text(v) for v in row])
    return out.getvalue()
