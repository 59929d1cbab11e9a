"""Issue 18, the fuzz harness: hollow values (empty and whitespace strings everywhere, nulls
in every list) in every write body; the service answers each with a 4xx naming the field,
or a 2xx, never a 5xx."""

from __future__ import annotations

import pytest

from benchmarks.fuzz import FuzzReport, fuzz_hollow, hollow_variants

# The official client (or the coordinator) end to end, on SQLite and on PostgreSQL.
pytestmark = pytest.mark.postgres_too


def test_variants_cover_the_class_of_the_500() -> None:
    """`metrics: [""]` (the 500 of issue 18) and its neighbours are generated."""
    body = {"name": "e", "metrics": [{"name": "m"}], "parameters": [{"name": "x"}]}
    variants = dict(hollow_variants(body))
    assert variants["metrics.0=''"] == {**body, "metrics": [""]}
    assert variants["metrics.0.name=' '"]["metrics"] == [{"name": " "}]
    assert variants["name='\\t\\n'"]["name"] == "\t\n"
    assert variants["parameters=null"]["parameters"] is None
    assert variants["parameters=[null, ...]"]["parameters"] == [None, {"name": "x"}]
    assert variants["metrics.0=null"]["metrics"] == [None]


def test_no_hollow_body_is_a_server_error(threaded_service_url: str) -> None:
    report = FuzzReport()
    fuzz_hollow(threaded_service_url, report)
    assert report.hollow_requests > 200
    assert not any(status >= 500 for status in report.statuses), report.summary()
    assert report.ok, report.summary()
