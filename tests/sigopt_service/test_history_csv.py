"""The history CSV (`sigopt_service.history_csv`), which the service's history download
sends and `orchestrator export` writes: cells for what an observation lacks, unnamed
metrics, and each metric's value and stddev read from its own evaluation, as the pages'
table reads them."""

from __future__ import annotations

import csv
import io
from typing import Any

from sigopt_service.history_csv import history_csv
from sigopt_service.http.pages.table import Column, cell, stddev
from sigopt_service.models import Experiment, Observation


def experiment(metrics: list[dict[str, Any]]) -> Experiment:
    return Experiment.model_validate(
        {
            "id": "1",
            "name": "e",
            "parameters": [
                {"name": "a", "type": "int", "bounds": {"min": 0, "max": 3}},
                {"name": "b", "type": "int", "bounds": {"min": 0, "max": 3}},
            ],
            "metrics": metrics,
        }
    )


def observation(oid: str, **fields: Any) -> Observation:
    return Observation.model_validate({"id": oid, "experiment": "1", "created": 0, **fields})


def test_unnamed_metric_and_missing_values() -> None:
    """An unnamed metric is `value`; a parameter an observation lacks (conditionals)
    and a failed observation's values are empty cells."""
    observations = [
        observation("1", assignments={"a": 1}, values=[{"value": 2.5, "value_stddev": 0.5}]),
        observation("2", assignments={"a": 2, "b": 3}, failed=True),
    ]
    assert history_csv(experiment([{"name": None}]), observations).split("\r\n") == [
        "id,suggestion,created,failed,failure_reason,parameter.a,parameter.b,"
        "value.value,value_stddev.value",
        "1,,1970-01-01T00:00:00Z,false,,1,,2.5,0.5",
        "2,,1970-01-01T00:00:00Z,true,,2,3,,",
        "",
    ]


def test_each_metric_has_its_own_value_and_stddev() -> None:
    """Two metrics, evaluations in the other order, a stddev on one only: each column
    holds its own metric's, in the CSV and in the pages' table alike."""
    two = experiment([{"name": "m", "objective": "maximize"}, {"name": "s", "strategy": "store"}])
    values = [{"name": "s", "value": 7.0}, {"name": "m", "value": 0.25, "value_stddev": 0.01}]
    observed = observation("1", assignments={"a": 1, "b": 2}, values=values)
    [row] = csv.DictReader(io.StringIO(history_csv(two, [observed]), newline=""))
    assert (row["value.m"], row["value_stddev.m"]) == ("0.25", "0.01")
    assert (row["value.s"], row["value_stddev.s"]) == ("7.0", "")
    columns = {name: Column(f"value:{name}", name, "value", name) for name in ("m", "s")}
    assert [cell(two, observed, columns[n]) for n in "ms"] == [0.25, 7.0]
    assert [stddev(two, observed, columns[n]) for n in "ms"] == [0.01, None]
