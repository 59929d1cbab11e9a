"""Fuzz the service from its own OpenAPI document, then check the store is unharmed.

```
python -m benchmarks.fuzz                         # thousands of cases (the soak's run)
python -m benchmarks.fuzz --cases 8 --lifecycle 25 --seed 1   # what `make test` runs
```
Three phases against the real service (SQLite file, loopback, its own thread):

1. **schemathesis**: every operation of `/v1/openapi.json`, schema-valid and
   schema-violating requests; path ids drawn half from seeded experiments, suggestions and
   observations (so requests reach the handlers, not only the 404), half at random. Checks:
   no 5xx, the status and the body are documented, schema-violating data is refused,
   no answer slower than `MAX_RESPONSE_S`.
2. **lifecycle**: hypothesis builds valid experiments with extreme spaces (bounds near
   +-1e300, widths of 1e-8, log scales, 2^53 ints, 50-character unicode categories,
   grids), then suggests, observes (extreme values, failures, batches), updates, deletes
   and pages at random. Every step must answer 200 or a documented 4xx, never a 5xx.
   **hollow values** (`hollow.py`): each valid write body with every string made empty
   or whitespace-only and every list made null, empty or given a null item; each variant
   once, deterministic. No 5xx, and every 400 names its field.
3. **store check**: every experiment still loads with its suggestions, observations and
   best assignments, and SQLite's `integrity_check` and `foreign_key_check` pass.

The exit status is 1 if any check failed; each failure prints a curl command to replay it.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import structlog
from anyio.from_thread import start_blocking_portal

from benchmarks.fuzz.hollow import fuzz_hollow, hollow_variants
from benchmarks.fuzz.lifecycle import experiments, fuzz_lifecycle
from benchmarks.fuzz.operations import SEED_PARAMETERS, Seeded, fuzz_operations, seed_data
from benchmarks.fuzz.report import EXAMPLES_PER_CHECK, MAX_RESPONSE_S, FuzzReport
from benchmarks.fuzz.store_check import check_store
from sigopt_service.config import ServiceConfig
from sigopt_service.http import running_service

__all__ = [
    "EXAMPLES_PER_CHECK",
    "MAX_RESPONSE_S",
    "SEED_PARAMETERS",
    "FuzzReport",
    "Seeded",
    "check_store",
    "experiments",
    "fuzz_hollow",
    "fuzz_lifecycle",
    "fuzz_operations",
    "hollow_variants",
    "main",
    "run_fuzz",
    "seed_data",
    "threaded_service",
]


@contextmanager
def threaded_service(db: Path) -> Iterator[str]:
    """The real service (SQLite at `db`) on a free loopback port, in its own thread."""
    config = ServiceConfig(port=0, db=db, seed=0)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(running_service(config)) as url,
    ):
        yield url


def run_fuzz(*, cases: int, lifecycle: int, seed: int, workdir: Path | None = None) -> FuzzReport:
    """All three phases against a fresh service; `cases` per operation and per mode."""
    report = FuzzReport()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        db = (workdir or Path(tmp)) / "service.db"
        with threaded_service(db) as url:
            seeded = seed_data(requests.Session(), url)
            fuzz_operations(url, seeded, report, cases=cases, seed=seed)
            fuzz_hollow(url, report)
            fuzz_lifecycle(url, report, examples=lifecycle, seed=seed)
            check_store(url, db, report)
    report.elapsed_s = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fuzz", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cases", type=int, default=100, help="cases per operation and mode")
    parser.add_argument("--lifecycle", type=int, default=300, help="lifecycle experiments")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    print(
        f"fuzzing with seed {seed}: {args.cases} cases per operation and mode, "
        f"{args.lifecycle} lifecycle experiments",
        flush=True,
    )
    report = run_fuzz(cases=args.cases, lifecycle=args.lifecycle, seed=seed)
    print(report.summary())
    print("PASS" if report.ok else f"FAIL (replay with --seed {seed})")
    return 0 if report.ok else 1
