"""`make soak`: the chaos soak and the leak measurement (issue 4, parts 1 and 5).

```
python -m benchmarks.soak            # full: budget 2,000 and 10,000 no-op evaluations
python -m benchmarks.soak --quick    # budget 150 and 1,000 evaluations (under a minute)
```

**Chaos soak.** One standalone service (`python -m sigopt_service`, SQLite in a temp folder, a
fixed port so it can come back on it, `--allow-duplicate-observations` as sigopt-server
behaves: a duplicate is stored and counted, not refused with a 409 that would hide a
client that sent it), three coordinators (`python -m orchestrator run
CONFIG --log-format json`, each its own run name) on one experiment, 16 workers each: two
run the async objective, one the subprocess objective (`benchmarks/soak_objectives.py`:
0.05-0.3 s, 8% fail, 3% hang past the 1.5 s timeout). Each coordinator talks to the
service through its own `FaultProxy` injecting ~20% faults (500/502/503, 429 with
`Retry-After`, drops before and after forwarding, 0.5 s latency spikes), seeded. As the
experiment's progress passes fixed fractions, the subprocess coordinator is killed -9
twice and restarted with the same command, and the service is killed -9 twice and
restarted on the same database and port. At the end the API is checked:

- observations == budget; no suggestion with two observations; none open;
- none lost: every evaluation that finished (a line in the objectives' log) is observed:
  subprocess lines by suggestion id, async lines by assignments (the async objective is
  not told its suggestion id; two random doubles identify a point). An evaluation whose
  coordinator was killed before it could report is re-run by the restarted one (it
  adopts its open suggestions), so its suggestion is still observed;
- every failed observation carries `failure_reason`; every final coordinator run exits 0;
- no process of the run alive (psutil: anything whose command line or environment names
  the soak's folder);
- wall time against the ideal: the planned evaluation time of the observed points (hangs
  at the timeout) spread over all 48 workers, with no overhead and no chaos.

**Dask.** One run of kind `dask` on a cluster of 3 Dask workers, 2 of them killed with -9
mid-run: none lost, duplicated or left open, no process left (`dask_row`).

**PostgreSQL.** Two service processes on one PostgreSQL database (a throwaway, crash-safe
server), three coordinators (the chaos row's objectives, 16 workers each) listing both
services through fault proxies (~20% faults); one service process is killed -9 twice and
the PostgreSQL server restarted once with `-m immediate`: the same checks (`postgres_row`).

**Leaks.** One coordinator process (async no-op objective, 16 workers, random engine,
standalone service) runs 10,000 evaluations while its open file descriptors, child
processes and RSS are sampled twenty times a second; growth after a warm-up must stay
within `LeakBounds` (fds <= 10, RSS <= 50 MB, no child process). A second run does the
same with 2,000 `/bin/echo` subprocess evaluations (8 workers: at most 8 children).

Prints one table, writes `benchmarks/results/soak.json`, exits 1 if a row misses its target.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import anyio

from benchmarks.common import markdown_table
from benchmarks.soak.chaos import check_soak, finished_lines, lost_evaluations, run_soak
from benchmarks.soak.dask_row import FULL_DASK, QUICK_DASK, run_dask_soak
from benchmarks.soak.leaks import Sample, leak_workers, run_leak, sample
from benchmarks.soak.postgres_row import FULL_POSTGRES, QUICK_POSTGRES, run_postgres_soak
from benchmarks.soak.processes import (
    CoordinatorProcess,
    direct_client,
    experiment_body,
    free_port,
    kill_all,
    observed_count,
    processes_naming,
    start_service,
    write_config,
)
from benchmarks.soak.spec import (
    FAULT_RATES,
    FULL,
    FULL_LEAKS,
    OBJECTIVES_SCRIPT,
    QUICK,
    QUICK_LEAKS,
    REPO,
    RESULTS,
    LeakBounds,
    Row,
    SoakReport,
    SoakSpec,
)

__all__ = [
    "FAULT_RATES",
    "FULL",
    "FULL_LEAKS",
    "FULL_POSTGRES",
    "OBJECTIVES_SCRIPT",
    "QUICK",
    "QUICK_LEAKS",
    "QUICK_POSTGRES",
    "REPO",
    "RESULTS",
    "CoordinatorProcess",
    "LeakBounds",
    "Row",
    "Sample",
    "SoakReport",
    "SoakSpec",
    "check_soak",
    "direct_client",
    "experiment_body",
    "finished_lines",
    "free_port",
    "kill_all",
    "leak_workers",
    "lost_evaluations",
    "main",
    "main_async",
    "observed_count",
    "processes_naming",
    "run_leak",
    "run_postgres_soak",
    "run_soak",
    "sample",
    "start_service",
    "write_config",
]


async def main_async(quick: bool) -> SoakReport:
    spec, leaks = (QUICK, QUICK_LEAKS) if quick else (FULL, FULL_LEAKS)
    report = SoakReport()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        root = Path(tmp).resolve()  # noqa: ASYNC240 - once, before anything runs
        soak = await run_soak(spec, root / "soak")
        report.rows += soak.rows
        report.details = {"spec": asdict(spec), "soak": soak.details, "leaks": {}}
        for bounds in leaks:
            leak = await run_leak(bounds, root / f"leak-{bounds.kind}")
            report.rows += leak.rows
            report.details["leaks"][bounds.kind] = {"bounds": asdict(bounds), **leak.details}
        dask_spec = QUICK_DASK if quick else FULL_DASK
        dask = await run_dask_soak(dask_spec, root / "dask")
        report.rows += dask.rows
        report.details["dask"] = {"spec": asdict(dask_spec), **dask.details}
        pg_spec = QUICK_POSTGRES if quick else FULL_POSTGRES
        pg = await run_postgres_soak(pg_spec, root / "postgres")
        report.rows += pg.rows
        report.details["postgres"] = {"spec": asdict(pg_spec), **pg.details}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="budget 150, short leak runs")
    args = parser.parse_args(argv)
    # While the service is down the proxies answer 500; aiohttp would log each traceback.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    started = time.monotonic()
    report = anyio.run(main_async, args.quick)
    elapsed = time.monotonic() - started
    table = markdown_table(
        ["check", "measured", "target", "ok"],
        [[r.check, r.measured, r.target, r.ok] for r in report.rows],
    )
    print(table)
    print(f"\n{'quick' if args.quick else 'full'} soak: {elapsed:.0f} s in all")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "soak",
                "mode": "quick" if args.quick else "full",
                "elapsed_s": elapsed,
                "ok": report.ok,
                "rows": [asdict(r) for r in report.rows],
                "details": report.details,
            },
            indent=2,
            default=str,
        )
    )
    return 0 if report.ok else 1
