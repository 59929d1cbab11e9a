"""The timed pieces `benchmarks.postgres` puts side by side: a service process on any
database, sequential cycles through one or several services, a no-op coordinator run, the
same no-op run on Optuna's `RDBStorage`, a study's rebuild from PostgreSQL, and the disk's
fdatasync.

```python
url = create_database(cluster, "bench", synchronous_commit=False)
async with service(url) as service_url:
    per_s = await noop_rate(service_url, workers=4, evaluations=300)
```
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread
import optuna
import psycopg
from psycopg import sql

from benchmarks.common import METRIC, experiment_body
from benchmarks.engine_latency import _value
from benchmarks.rivals import _noop_objective
from orchestrator.client import ServiceClient
from orchestrator.coordinator import Coordinator, CoordinatorSettings, ExitReason
from sigopt_service.engine import Engine
from sigopt_service.models import MetricEvaluation
from sigopt_service.store.postgres import PostgresStore
from tests.support.postgres import PostgresCluster
from tests.support.service_process import ServiceProcess
from workers.async_function import AsyncFunctionWorker

OBJECTIVE = "benchmarks.objectives:noop"
_METADATA = {"run_id": "bench", "worker_slot": 0, "host": "bench"}
#: What a PostgreSQL database's rows are labelled by, read back from a new session.
DURABILITY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method")

optuna.logging.set_verbosity(optuna.logging.WARNING)


def create_database(cluster: PostgresCluster, name: str, *, synchronous_commit: bool) -> str:
    """A new database of `cluster` (its URL); `synchronous_commit=False` turns it off for
    every later session of that database (`ALTER DATABASE ... SET`), the server untouched."""
    url = cluster.create_database(name)
    if not synchronous_commit:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
                    sql.Identifier(name)
                )
            )
    return url


def durability_of(url: str) -> dict[str, str]:
    """The durability settings a new session of `url` runs with."""
    shown: dict[str, str] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name in DURABILITY_SETTINGS:
            row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            shown[name] = str(row[0]) if row else "?"
    return shown


def fdatasync_ms(folder: Path, *, count: int = 50) -> float:
    """Median ms of one 8 kB write + `os.fdatasync` in `folder`: what a durable commit
    waits for on this disk, at the least."""
    samples: list[float] = []
    fd = os.open(folder / "fdatasync.probe", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(count):
            start = time.perf_counter()
            os.pwrite(fd, b"\0" * 8192, 0)
            os.fdatasync(fd)
            samples.append(time.perf_counter() - start)
    finally:
        os.close(fd)
    return statistics.median(samples) * 1e3


@asynccontextmanager
async def service(db: str) -> AsyncIterator[str]:
    """`python -m sigopt_service --db DB` (a SQLite path or a PostgreSQL URL) in a child
    process; yields its URL; kill -9 of its process group afterwards."""
    process = ServiceProcess(db)
    try:
        yield await anyio.to_thread.run_sync(process.start)
    finally:
        process.kill()


async def cycles(
    clients: Sequence[ServiceClient], eid: str, *, count: int, warmup: int
) -> list[float]:
    """Seconds per `suggest` + `observe` cycle after `warmup` untimed ones, the clients
    taking turns cycle by cycle."""
    samples: list[float] = []
    for i in range(warmup + count):
        client = clients[i % len(clients)]
        start = time.perf_counter()
        suggestion = await client.suggest(eid, metadata=_METADATA)
        value = _value(dict(suggestion.assignments))
        await client.observe(
            eid,
            suggestion.id,
            values=[MetricEvaluation(name=METRIC, value=value)],
            metadata=_METADATA,
        )
        if i >= warmup:
            samples.append(time.perf_counter() - start)
    return samples


async def noop_rate(url: str, *, workers: int, evaluations: int) -> float:
    """No-op evaluations per second of one `Coordinator.run` to the budget of a new
    `random` experiment on the service at `url` (the run's wall time alone)."""
    worker = AsyncFunctionWorker(OBJECTIVE)
    async with ServiceClient(url) as client:
        experiment = await client.create_experiment(
            experiment_body("random", budget=evaluations, parallel_bandwidth=workers)
        )
        settings = CoordinatorSettings(workers=workers, run_id="bench")
        coordinator = Coordinator(client, worker, experiment_id=experiment.id, settings=settings)
        try:
            start = time.perf_counter()
            summary = await coordinator.run()
            wall_s = time.perf_counter() - start
        finally:
            await worker.aclose()
    if summary.reason is not ExitReason.BUDGET_REACHED or summary.stats.completed != evaluations:
        raise RuntimeError(f"benchmark run did not complete: {summary!r}")
    return evaluations / wall_s


def optuna_rdb_rate(url: str, *, trials: int, jobs: int) -> float:
    """Trials per second of `study.optimize(noop, n_jobs=jobs)` with `RandomSampler` on
    `RDBStorage(url)` (a SQLAlchemy URL), storage and study set-up excluded."""
    storage = optuna.storages.RDBStorage(url)
    try:
        study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
        start = time.perf_counter()
        study.optimize(_noop_objective, n_trials=trials, n_jobs=jobs)
        wall_s = time.perf_counter() - start
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    finally:
        storage.engine.dispose()
    if len(done) != trials:
        raise RuntimeError(f"optuna finished {len(done)} of {trials} trials")
    return trials / wall_s


def rebuild_ms(url: str, experiment_id: str, *, repeats: int = 3) -> float:
    """Median ms of a study's rebuild from PostgreSQL in this process: `Engine.invalidate`,
    then `Engine.propose` reads every observation and open suggestion, tells them to a new
    study and asks it once (nothing stored: the proposal is discarded)."""
    store = PostgresStore(url)
    try:
        engine = Engine(store, seed=0)
        experiment = store.get_experiment(int(experiment_id))
        samples: list[float] = []
        for _ in range(repeats):
            engine.invalidate(int(experiment_id))
            start = time.perf_counter()
            proposal = engine.propose(experiment)
            samples.append(time.perf_counter() - start)
            engine.discarded(proposal)
    finally:
        store.close()
    return statistics.median(samples) * 1e3
