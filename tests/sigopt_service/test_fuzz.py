"""The service fuzzed from its own OpenAPI document (schemathesis + hypothesis), a few
hundred cases; `python -m benchmarks.fuzz` runs thousands (in `make soak`)."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from benchmarks.fuzz import run_fuzz


@pytest.mark.slow
def test_fuzz_finds_no_server_error_and_the_store_is_unharmed() -> None:
    """1. Seed three experiments; fuzz every operation with schema-valid and
       schema-violating requests (10 of each per operation).
    2. Run 40 valid experiments with extreme spaces through random lifecycles.
    3. No 5xx, every status and body as documented, schema-violating data refused,
       no answer slower than 5 s; every experiment still loads; SQLite is consistent."""
    with capture_logs() as logs:
        report = run_fuzz(cases=10, lifecycle=40, seed=20261127)
    assert report.ok, report.summary()
    assert report.cases >= 400 and report.lifecycle_requests >= 100
    assert report.experiments_checked >= 40
    assert not any(s >= 500 for s in report.statuses)
    assert not [e for e in logs if e["event"] == "unhandled_error"]
