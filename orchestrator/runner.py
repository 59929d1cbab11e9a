"""One tuning job end to end: service (embedded or remote), experiment, worker, coordinator.

```python
result = await run_job(config, stop=stop, force=force)   # what `orchestrator run` does
```
With no `service.url` the embedded service starts as a child process (`embedded.py`: port
0, its SQLite file in the run folder) and stops when the job ends, or when this process dies.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import structlog

from orchestrator.client import RetryPolicy, ServiceClient
from orchestrator.config import OrchestratorConfig
from orchestrator.coordinator import (
    Coordinator,
    CoordinatorSettings,
    FailurePolicy,
    RunStats,
    RunSummary,
)
from orchestrator.embedded import embedded_service
from orchestrator.errors import ConfigError
from orchestrator.factory import build_worker
from orchestrator.journal import ReportJournal
from orchestrator.run_state import RunState, load_state, make_run_dir, new_state, save_state
from sigopt_service.models import BestAssignments

log = structlog.get_logger()


@dataclass(frozen=True)
class JobResult:
    summary: RunSummary
    best: list[BestAssignments]
    run_dir: Path
    service_url: str
    #: The embedded service's database, None when the run used a service at a URL.
    embedded_db: Path | None = None


def retry_policy(config: OrchestratorConfig) -> RetryPolicy:
    # The section's fields are the policy's: a field added to one and not the other fails.
    return RetryPolicy(**config.retry.model_dump())


def token_of(config: OrchestratorConfig) -> str | None:
    return os.environ.get(config.service.token_env) or None


@asynccontextmanager
async def service_client(config: OrchestratorConfig) -> AsyncIterator[ServiceClient]:
    """A client for the configured service, starting the embedded one if there is no URL."""
    async with AsyncExitStack() as stack:
        url = config.service.url
        if url is None:
            db = config.service_db()
            await anyio.to_thread.run_sync(make_run_dir, db.parent)
            url = await stack.enter_async_context(embedded_service(db))
        client = await stack.enter_async_context(
            ServiceClient(
                url,
                token=token_of(config),
                retry=retry_policy(config),
                connect_timeout_s=config.timeouts.connect_s,
                request_timeout_s=config.timeouts.request_s,
            )
        )
        yield client


async def ensure_experiment(
    client: ServiceClient, config: OrchestratorConfig, state: RunState, run_dir: Path
) -> str:
    """The experiment id: given, remembered from an earlier run of this folder, or created."""
    if config.experiment.id is not None:
        return config.experiment.id
    definition = config.experiment.definition(config.workers.count, state.run_id)
    digest = RunState.hash_definition(
        {k: v for k, v in definition.items() if k not in ("metadata", "parallel_bandwidth")}
    )
    if state.experiment_id is not None:
        if state.definition_hash not in (None, digest):
            raise ConfigError(
                f"the run folder {run_dir} belongs to experiment {state.experiment_id}, created "
                "from a different definition: give a new `run.name` or remove the folder",
                file=config.source,
                key="experiment",
            )
        return state.experiment_id
    experiment = await client.create_experiment(definition)
    state.experiment_id, state.definition_hash = experiment.id, digest
    await anyio.to_thread.run_sync(save_state, run_dir, state)
    log.info("experiment_created", experiment_id=experiment.id, name=experiment.name)
    return experiment.id


async def run_job(
    config: OrchestratorConfig,
    *,
    fresh: bool = False,
    stop: anyio.Event | None = None,
    force: anyio.Event | None = None,
    on_progress: Callable[[RunStats], None] | None = None,
    on_start: Callable[[str, str], None] | None = None,
) -> JobResult:
    run_dir = config.run_dir()
    await anyio.to_thread.run_sync(make_run_dir, run_dir)
    state = await anyio.to_thread.run_sync(load_state, run_dir)
    if state is None:
        state = new_state()
        await anyio.to_thread.run_sync(save_state, run_dir, state)
    kind = config.workers.worker_kind()
    # A previous run of this folder killed with -9 could not end its evaluations.
    await anyio.to_thread.run_sync(kind.recover, run_dir / "evaluations")
    worker = build_worker(config)
    journal = ReportJournal(run_dir / "reports.jsonl")
    try:
        async with service_client(config) as client:
            experiment_id = await ensure_experiment(client, config, state, run_dir)
            if on_start is not None:
                on_start(experiment_id, client.base_url)
            settings = CoordinatorSettings(
                workers=config.workers.count,
                run_id=state.run_id,
                evaluation_timeout_s=config.workers.timeout,
                max_retries=config.workers.max_retries,
                drain_s=config.timeouts.drain_s,
                on_stop=config.run.on_stop,
                # Per-evaluation folders hold what a kind writes (a command's output).
                run_dir=run_dir if kind.needs_run_folder else None,
                fresh=fresh,
                failures=FailurePolicy(**config.failures.model_dump()),
            )
            with structlog.contextvars.bound_contextvars(run_id=state.run_id):
                coordinator = Coordinator(
                    client,
                    worker,
                    experiment_id=experiment_id,
                    settings=settings,
                    journal=journal,
                    on_progress=on_progress,
                )
                summary = await coordinator.run(stop=stop, force=force)
            best = await client.best_assignments(experiment_id)
            return JobResult(
                summary=summary,
                best=best,
                run_dir=run_dir,
                service_url=client.base_url,
                embedded_db=None if config.service.url else config.service_db(),
            )
    finally:
        journal.close()
        with anyio.CancelScope(shield=True), anyio.move_on_after(config.timeouts.kill_grace_s + 5):
            await worker.aclose()
