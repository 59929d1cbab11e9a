"""The PostgreSQL store against the SQLite one and against Optuna's own RDB storage, in one run.

One throwaway PostgreSQL server (`tests.support.postgres.PostgresCluster`, durable: its
defaults, `fsync=on`, `synchronous_commit=on`) on this machine's disk, beside SQLite files
in temporary folders on the same disk. Every service is `python -m sigopt_service` in its
own process (`tests.support.service_process.ServiceProcess`), as `orchestrator run` runs
its embedded one, so the client's and the service's work land on different cores. Stores:

- `sqlite`: a SQLite file (WAL, `synchronous=NORMAL`, the service's default);
- `postgres`: a database with the server's durable defaults;
- `postgres_async`: a database with `synchronous_commit=off` (`ALTER DATABASE ... SET`):
  no commit waits for its WAL flush, as none waits for an fsync under SQLite's NORMAL.

Three measurements, the stores interleaved in blocks so the machine's load falls on all:

1. `cycle`: sequential `suggest` + `observe` through `ServiceClient` (`random` and
   `offline` = TPE), ms per cycle, and the ratio to SQLite's;
2. `noop`: no-op evaluations/s through `Coordinator` at 1 / 4 / 16 workers (the `random`
   engine, `benchmarks.objectives:noop`, as `benchmarks.overhead`), and Optuna's
   `RDBStorage("postgresql+psycopg://...")` on the same server, `study.optimize(noop,
   n_jobs=W)` with `RandomSampler` (as `benchmarks.rivals` runs it on SQLite);
3. `shared`: two service processes on one database taking turns on one TPE experiment,
   against one process alone, at ~100 and ~1,000 observations: each turn finds the other's
   suggestion and observation in the counts (`Engine._is_current`) and brings its study
   up to date; beside it, what rebuilding the study from the database would cost.

The timed pieces live in `benchmarks.postgres_runs`. `python -m benchmarks.postgres`
prints the tables (`--full`: more cycles and runs); `run()` returns the numbers.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import aiohttp
import anyio
import anyio.to_thread

from benchmarks.common import experiment_body, markdown_table, quiet_logging, summarize_ms
from benchmarks.postgres_runs import (
    create_database,
    cycles,
    durability_of,
    fdatasync_ms,
    noop_rate,
    optuna_rdb_rate,
    rebuild_ms,
    service,
)
from benchmarks.scale import _fill
from orchestrator.client import ServiceClient
from sigopt_service.engine import Space
from tests.support.postgres import PostgresCluster

STORES = ("sqlite", "postgres", "postgres_async")
LABELS = {
    "sqlite": "SQLite file, synchronous=NORMAL",
    "postgres": "PostgreSQL, synchronous_commit=on",
    "postgres_async": "PostgreSQL, synchronous_commit=off",
}
#: Timed cycles per engine, split into `ROUNDS` blocks per store.
CYCLES = {"random": 400, "offline": 100}
FULL_CYCLES = {"random": 2000, "offline": 400}
ROUNDS = 4
#: Untimed cycles before a store's first block (imports, caches, connections).
WARMUP = 10
WORKER_COUNTS = (1, 4, 16)
#: Few: PostgreSQL with synchronous_commit=on manages 40-200 no-op evaluations/s here.
EVALUATIONS = 200
FULL_EVALUATIONS = 1000
REPEATS = 3
#: Optuna's RDB storage commits each trial in several transactions: tens of trials/s.
OPTUNA_TRIALS = 100
FULL_OPTUNA_TRIALS = 500
SHARED_CYCLES = {100: 40, 1000: 20}
FULL_SHARED_CYCLES = {100: 100, 1000: 60}
_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


async def measure_cycle(
    urls: dict[str, str], *, cycle_counts: dict[str, int], rounds: int
) -> dict[str, Any]:
    """Part 1: per engine, the stores take turns in `rounds` blocks of cycles each."""
    result: dict[str, Any] = {}
    async with AsyncExitStack() as stack:
        clients = {s: await stack.enter_async_context(ServiceClient(u)) for s, u in urls.items()}
        for engine_type, count in cycle_counts.items():
            samples: dict[str, list[float]] = {store: [] for store in urls}
            eids = {}
            for store, client in clients.items():
                body = experiment_body(engine_type, budget=count + WARMUP + rounds)
                eids[store] = (await client.create_experiment(body)).id
            for block in range(rounds):
                for store, client in clients.items():
                    samples[store] += await cycles(
                        [client],
                        eids[store],
                        count=count // rounds,
                        warmup=WARMUP if block == 0 else 1,
                    )
            by_store = {store: summarize_ms(s) for store, s in samples.items()}
            base = by_store["sqlite"]
            for r in by_store.values():
                r["p50_vs_sqlite"] = r["p50_ms"] / base["p50_ms"]
                r["p95_vs_sqlite"] = r["p95_ms"] / base["p95_ms"]
            result[engine_type] = by_store
    return result


async def measure_noop(
    urls: dict[str, str],
    optuna_url: str,
    *,
    worker_counts: Sequence[int],
    evaluations: int,
    repeats: int,
    optuna_trials: int,
) -> dict[str, Any]:
    """Part 2: per worker count, `repeats` rounds of a run on each store in turn (the
    median kept), then one run of Optuna's."""
    rows: dict[str, Any] = {}
    for workers in worker_counts:
        rates: dict[str, list[float]] = {store: [] for store in urls}
        for _ in range(repeats):
            for store, url in urls.items():
                rates[store].append(await noop_rate(url, workers=workers, evaluations=evaluations))
        row: dict[str, Any] = {f"{s}_per_s": statistics.median(r) for s, r in rates.items()}
        row |= {f"{s}_per_s_all": r for s, r in rates.items()}
        row["optuna_rdb_postgres_per_s"] = await anyio.to_thread.run_sync(
            partial(optuna_rdb_rate, optuna_url, trials=optuna_trials, jobs=workers)
        )
        row["postgres_vs_sqlite"] = row["postgres_per_s"] / row["sqlite_per_s"]
        row["postgres_async_vs_sqlite"] = row["postgres_async_per_s"] / row["sqlite_per_s"]
        row["postgres_vs_optuna_rdb"] = row["postgres_per_s"] / row["optuna_rdb_postgres_per_s"]
        rows[str(workers)] = row
    return rows


async def measure_shared(url: str, *, cycle_counts: dict[int, int], rounds: int) -> dict[str, Any]:
    """Part 3: one TPE experiment filled to each level (batch endpoint), then blocks of
    cycles through one process and through two taking turns, interleaved; and, for
    scale, what rebuilding the study from the database costs (`rebuild_ms`)."""
    levels: dict[str, Any] = {}
    async with (
        service(url) as first,
        service(url) as second,
        ServiceClient(first) as one,
        ServiceClient(second) as other,
        aiohttp.ClientSession(headers=_JSON) as session,
    ):
        budget = 10 * max(cycle_counts) + 10 * sum(cycle_counts.values())
        experiment = await one.create_experiment(experiment_body("offline", budget=budget))
        space, rng, count = Space.from_parameters(experiment.parameters), random.Random(0), 0
        for level, n in cycle_counts.items():
            fill_s = await _fill(session, first, experiment.id, space, rng, max(0, level - count))
            alone: list[float] = []
            turns: list[float] = []
            for _ in range(rounds):
                # Untimed first turns: after the fill or the other series a process catches
                # up with everything at once; the timed cycles are the steady state.
                alone += await cycles([one], experiment.id, count=n // rounds, warmup=1)
                turns += await cycles([one, other], experiment.id, count=n // rounds, warmup=2)
            count = max(count, level) + rounds * (2 * (n // rounds) + 3)
            single, both = summarize_ms(alone), summarize_ms(turns)
            levels[str(level)] = {
                "one_process": single,
                "two_processes": both,
                "p50_ratio": both["p50_ms"] / single["p50_ms"],
                "catch_up_p50_ms": both["p50_ms"] - single["p50_ms"],
                "rebuild_ms": await anyio.to_thread.run_sync(
                    partial(rebuild_ms, url, experiment.id)
                ),
                "observations_after": count,
                "fill_s": fill_s,
            }
    return levels


async def measure(
    *,
    cycle_counts: dict[str, int],
    worker_counts: Sequence[int],
    evaluations: int,
    repeats: int,
    optuna_trials: int,
    shared_cycles: dict[int, int],
    rounds: int = ROUNDS,
) -> dict[str, Any]:
    load_before = os.getloadavg()
    elapsed_s: dict[str, float] = {}
    cluster = await anyio.to_thread.run_sync(lambda: PostgresCluster.start(durable=True))
    try:
        with TemporaryDirectory(prefix="bench-pg-sqlite-") as folder:
            dbs = {
                "sqlite": str(Path(folder) / "service.db"),
                "postgres": create_database(cluster, "durable", synchronous_commit=True),
                "postgres_async": create_database(cluster, "async", synchronous_commit=False),
            }
            optuna_db = create_database(cluster, "optuna", synchronous_commit=True)
            settings = {s: durability_of(u) for s, u in dbs.items() if s != "sqlite"}
            fsync_ms = fdatasync_ms(Path(folder))
            async with AsyncExitStack() as stack:
                urls = {s: await stack.enter_async_context(service(db)) for s, db in dbs.items()}
                start = time.perf_counter()
                cycle = await measure_cycle(urls, cycle_counts=cycle_counts, rounds=rounds)
                elapsed_s["cycle"] = time.perf_counter() - start
                noop = await measure_noop(
                    urls,
                    optuna_db.replace("postgresql://", "postgresql+psycopg://", 1),
                    worker_counts=worker_counts,
                    evaluations=evaluations,
                    repeats=repeats,
                    optuna_trials=optuna_trials,
                )
                elapsed_s["noop"] = time.perf_counter() - start - elapsed_s["cycle"]
            start = time.perf_counter()
            shared_db = create_database(cluster, "shared", synchronous_commit=True)
            shared = await measure_shared(shared_db, cycle_counts=shared_cycles, rounds=rounds)
            elapsed_s["shared"] = time.perf_counter() - start
    finally:
        await anyio.to_thread.run_sync(cluster.stop)
    return {
        "postgres_settings": settings,
        "fdatasync_ms": fsync_ms,
        "cycle": cycle,
        "cycle_counts": cycle_counts,
        "rounds": rounds,
        "noop": noop,
        "evaluations": evaluations,
        "repeats": repeats,
        "optuna_trials": optuna_trials,
        "shared": shared,
        "elapsed_s": elapsed_s,
        "load_before": list(load_before),
        "load_after": list(os.getloadavg()),
    }


def run(*, full: bool = False, **overrides: Any) -> dict[str, Any]:
    """The three measurements (see the module docstring); `overrides` replace
    `measure`'s keyword arguments (the tests run it tiny)."""
    kwargs: dict[str, Any] = {
        "cycle_counts": FULL_CYCLES if full else CYCLES,
        "worker_counts": WORKER_COUNTS,
        "evaluations": FULL_EVALUATIONS if full else EVALUATIONS,
        "repeats": REPEATS,
        "optuna_trials": FULL_OPTUNA_TRIALS if full else OPTUNA_TRIALS,
        "shared_cycles": FULL_SHARED_CYCLES if full else SHARED_CYCLES,
        **overrides,
    }
    result: dict[str, Any] = anyio.run(lambda: measure(**kwargs))
    return result


def _notes(result: dict[str, Any]) -> str:
    before, after = result["load_before"], result["load_after"]
    pg = result["postgres_settings"]["postgres"]
    return (
        f"PostgreSQL {', '.join(f'{k}={v}' for k, v in pg.items())}; this disk: "
        f"{result['fdatasync_ms']:.2f} ms per 8 kB write + fdatasync (median of 50, at "
        "the start). Load average "
        f"(1/5/15 min) {before[0]:.2f}/{before[1]:.2f}/{before[2]:.2f} before, "
        f"{after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f} after (2 cores, other jobs running)."
    )


def _cycle_table(result: dict[str, Any]) -> str:
    rows = [
        [engine, LABELS[store], r["p50_ms"], r["p95_ms"], r["p50_vs_sqlite"], r["p95_vs_sqlite"]]
        for engine, by_store in result["cycle"].items()
        for store, r in by_store.items()
    ]
    headers = ["engine", "store", "p50 ms", "p95 ms", "p50 / SQLite", "p95 / SQLite"]
    counts = ", ".join(f"{n} {e}" for e, n in result["cycle_counts"].items())
    return markdown_table(headers, rows) + (
        f"\n\nSequential cycles through `ServiceClient` ({counts}, timed per store, in "
        f"{result['rounds']} interleaved blocks); each service in its own process, each "
        "store on the same disk. `synchronous_commit=on` (the server's default) makes "
        "every commit wait for its WAL's fdatasync; SQLite's `synchronous=NORMAL` in WAL "
        "mode never waits (it syncs at checkpoints). `synchronous_commit=off` is the "
        "closer match: no wait and no corruption on a crash, but a server crash can lose "
        "the last few hundred ms of acknowledged commits (SQLite NORMAL loses them only to "
        "an OS crash or a power cut)."
    )


def _noop_table(result: dict[str, Any]) -> str:
    rows = [
        [
            workers,
            r["sqlite_per_s"],
            r["postgres_per_s"],
            r["postgres_async_per_s"],
            r["optuna_rdb_postgres_per_s"],
            r["postgres_vs_sqlite"],
            r["postgres_async_vs_sqlite"],
            r["postgres_vs_optuna_rdb"],
        ]
        for workers, r in result["noop"].items()
    ]
    headers = [
        "workers",
        "ours SQLite evals/s",
        "ours PG evals/s",
        "ours PG async-commit evals/s",
        "Optuna RDBStorage PG trials/s",
        "PG / SQLite",
        "PG async / SQLite",
        "ours PG / Optuna PG",
    ]
    return markdown_table(headers, rows) + (
        f"\n\n{result['evaluations']} no-op evaluations per run through `Coordinator`, "
        f"`random` engine, median of {result['repeats']} runs per store (stores taking "
        f"turns). Optuna: one run of {result['optuna_trials']} trials, "
        "`study.optimize(noop, n_jobs=workers)`, `RandomSampler`, the same 4 parameters, "
        "`RDBStorage('postgresql+psycopg://...')` on the same server (synchronous_commit=on), "
        "SQLAlchemy's default pool. Above 1 in the last column: we are faster."
    )


def _shared_table(result: dict[str, Any]) -> str:
    rows = [
        [
            int(level),
            r["observations_after"],
            r["one_process"]["p50_ms"],
            r["one_process"]["p95_ms"],
            r["two_processes"]["p50_ms"],
            r["two_processes"]["p95_ms"],
            r["p50_ratio"],
            r["catch_up_p50_ms"],
            r["rebuild_ms"],
        ]
        for level, r in result["shared"].items()
    ]
    headers = [
        "observations",
        "after",
        "one process p50 ms",
        "p95 ms",
        "two processes p50 ms",
        "p95 ms",
        "two / one (p50)",
        "two - one (p50 ms)",
        "a rebuild, ms",
    ]
    return markdown_table(headers, rows) + (
        "\n\nOne TPE (`offline`) experiment on one PostgreSQL database "
        "(synchronous_commit=on), two service processes: `one process` cycles all through "
        "the first; `two processes` take turns, so each suggest finds the other's "
        "suggestion and observation in the counts (`Engine._is_current`) and brings its "
        "study up to date. Interleaved blocks, each after one untimed turn per process "
        "(the catch-up after the fill or the other series). `a rebuild`: for "
        "scale, the engine rebuilding the study from the database instead (read it all, "
        "tell it, one ask; in the benchmark's process, median of 3)."
    )


def table(result: dict[str, Any]) -> str:
    return (
        "Suggest + observe cycle:\n\n"
        + _cycle_table(result)
        + "\n\nNo-op evaluations/s through the orchestrator:\n\n"
        + _noop_table(result)
        + "\n\nTwo service processes on one database, one experiment:\n\n"
        + _shared_table(result)
        + "\n\n"
        + _notes(result)
    )


def main() -> None:
    quiet_logging()
    print(table(run(full="--full" in sys.argv)))


if __name__ == "__main__":
    main()
