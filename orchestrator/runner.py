"""One tuning job end to end: service (embedded or remote), experiment, worker, coordinator.

```python
result = await run_job(config, stop=stop, force=force)   # what `orchestrator run` does
```
With no `service.url` the embedded service starts as a child process (`embedded.py`: port
0, its SQLite file in the run folder) and stops when the job ends, or when this process dies.

Running a config again in the same run folder continues its experiment, on the service the
folder recorded when the config names none (`recorded_service`; another one is exit 2).
A changed `name`, `observation_budget`, `parallel_bandwidth` (or `workers.count`) or
`metadata` updates the experiment (`PUT /experiments/{id}`, event `experiment_updated`):
raising the budget of a finished run evaluates exactly the difference. A budget below the
observations already stored is refused (exit 2), as is any change to the search space or
the metrics: those need a new experiment, so a new `run.name`, and the message names the
changed field.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import structlog

from orchestrator.client import RetryPolicy, ServiceClient
from orchestrator.config import OrchestratorConfig, check_parameters
from orchestrator.coordinator import (
    Coordinator,
    CoordinatorSettings,
    FailurePolicy,
    RunEnvironment,
    RunStats,
    RunSummary,
)
from orchestrator.embedded import embedded_service
from orchestrator.errors import ConfigError
from orchestrator.factory import build_worker
from orchestrator.journal import ReportJournal
from orchestrator.run_state import (
    EMBEDDED,
    RunState,
    fixed_change,
    legacy_definition,
    load_state,
    make_run_dir,
    new_state,
    save_state,
    updates,
)
from sigopt_service.models import BestAssignments
from workers.resources import ResourcePool

log = structlog.get_logger()

#: Told when a run updates its experiment: the experiment id, and each changed field's
#: (old, new) value.
OnUpdate = Callable[[str, dict[str, tuple[Any, Any]]], None]


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


def recorded_service(config: OrchestratorConfig, state: RunState | None) -> OrchestratorConfig:
    """`config` with the service its run folder's experiment lives on (`state.json`'s
    `service`) when it names none, so a run made with `--api-url` is found again without
    it. A config naming another service is a `ConfigError` (key `service.url`), raised
    before any embedded service starts. A config of an existing experiment
    (`experiment.id`), or a state file without the record, is taken as it is."""
    if config.experiment.id is not None or state is None or state.experiment_id is None:
        return config
    # The record is the first URL the run was given; any of a list names the service.
    recorded, named = state.service, config.service.url
    if recorded is None or recorded in (config.service.urls or (EMBEDDED,)):
        return config
    run_dir = config.run_dir()
    if named is None:
        log.info("service_from_run_folder", url=recorded, run_dir=str(run_dir))
        service = config.service.model_copy(update={"urls": (recorded,)})
        return config.model_copy(update={"service": service})
    if recorded == EMBEDDED:
        where, fix = "its embedded service", "drop --api-url and `service.url`"
    else:
        where, fix = recorded, f"pass --api-url {recorded}"
    raise ConfigError(
        f"experiment {state.experiment_id} of the run folder {run_dir} lives on {where}, "
        f"not on {', '.join(config.service.urls)}: {fix} (a new `run.name` starts a new "
        "experiment there)",
        file=config.source,
        key="service.url",
    )


@asynccontextmanager
async def service_client(config: OrchestratorConfig) -> AsyncIterator[ServiceClient]:
    """A client for the configured service, starting the embedded one if there is no URL."""
    async with AsyncExitStack() as stack:
        urls: Sequence[str] = config.service.urls
        if not urls:
            db = config.service_db()
            await anyio.to_thread.run_sync(make_run_dir, db.parent)
            urls = [await stack.enter_async_context(embedded_service(db))]
        client = await stack.enter_async_context(
            ServiceClient(
                urls,
                token=token_of(config),
                retry=retry_policy(config),
                connect_timeout_s=config.timeouts.connect_s,
                request_timeout_s=config.timeouts.request_s,
            )
        )
        yield client


async def ensure_experiment(
    client: ServiceClient,
    config: OrchestratorConfig,
    state: RunState,
    run_dir: Path,
    *,
    on_update: OnUpdate | None = None,
) -> str:
    """The experiment id: given, remembered from an earlier run of this folder (updated to
    the config, see `continue_experiment`), or created, with `experiment.queued` queued
    (only then: a resumed experiment keeps the queue it has)."""
    if config.experiment.id is not None:
        # The names a command's placeholders must match are the service's: check them
        # before the run starts (a definition in the file was checked at load).
        experiment = await client.get_experiment(config.experiment.id)
        check_parameters(
            config,
            [parameter.name for parameter in experiment.parameters]
            + [str(conditional["name"]) for conditional in experiment.conditionals],
        )
        return config.experiment.id
    if state.experiment_id is not None:
        await continue_experiment(
            client, config, state.experiment_id, state, run_dir, on_update=on_update
        )
        if state.service is None:
            # A state file from before the record: the experiment was found on this one.
            state.service = config.service.url or EMBEDDED
            await anyio.to_thread.run_sync(save_state, run_dir, state)
        return state.experiment_id
    definition = config.experiment.definition(config.workers.count, state.run_id)
    experiment = await client.create_experiment(definition)
    queued = config.experiment.queued_assignments()
    if queued:
        # Before the state names the experiment: a run that dies here starts afresh
        # next time, with a new experiment and its whole queue.
        await client.queue_suggestions(experiment.id, queued)
        log.info("suggestions_queued", experiment_id=experiment.id, count=len(queued))
    state.remember(experiment.id, definition)
    state.service = config.service.url or EMBEDDED
    await anyio.to_thread.run_sync(save_state, run_dir, state)
    log.info("experiment_created", experiment_id=experiment.id, name=experiment.name)
    return experiment.id


async def continue_experiment(
    client: ServiceClient,
    config: OrchestratorConfig,
    eid: str,
    state: RunState,
    run_dir: Path,
    *,
    on_update: OnUpdate | None = None,
) -> None:
    """Bring this folder's experiment `eid` to the config: a changed name, budget, bandwidth
    or metadata is an update (a raised budget extends a finished run; `on_update` is told
    the experiment and each changed field's old and new value); any other change is a
    `ConfigError` naming the field. A budget below the observations already stored is
    refused too: nothing is deleted, and the config would not say what the run did."""
    definition = config.experiment.definition(config.workers.count, state.run_id)
    experiment = await client.get_experiment(eid)
    before = state.definition
    if before is None:
        before = legacy_definition(state, definition, experiment.model_dump(mode="json"))
        if before is None:
            raise ConfigError(
                f"the run folder {run_dir} belongs to experiment {eid}, created from a "
                "different definition: give a new `run.name` or remove the folder",
                file=config.source,
                key="experiment",
            )
    fixed = fixed_change(before, definition)
    if fixed is not None:
        raise ConfigError(
            f"{fixed.detail}; {fixed.why()}: give a new `run.name`, or remove {run_dir}",
            file=config.source,
            key=fixed.key,
        )
    changes = updates(before, definition)
    observed = experiment.progress.observation_count if experiment.progress else 0
    budget = changes.get("observation_budget", observed)
    if budget < observed:
        raise ConfigError(
            f"{budget} is below the {observed} observations experiment {eid} already has: "
            f"give at least {observed}, a new `run.name`, or remove {run_dir}",
            file=config.source,
            key="experiment.observation_budget",
        )
    if changes:
        await client.update_experiment(eid, changes)
        changed = {k: (before.get(k), v) for k, v in changes.items()}
        log.info(
            "experiment_updated",
            experiment_id=eid,
            fields=sorted(changes),
            changes={k: list(pair) for k, pair in changed.items()},
        )
        if on_update is not None:
            on_update(eid, changed)
    if changes or state.definition is None:
        state.remember(eid, definition)
        await anyio.to_thread.run_sync(save_state, run_dir, state)


async def run_job(
    config: OrchestratorConfig,
    *,
    fresh: bool = False,
    stop: anyio.Event | None = None,
    force: anyio.Event | None = None,
    on_progress: Callable[[RunStats], None] | None = None,
    on_start: Callable[[str, str], None] | None = None,
    on_update: OnUpdate | None = None,
) -> JobResult:
    run_dir = config.run_dir()
    await anyio.to_thread.run_sync(make_run_dir, run_dir)
    state = await anyio.to_thread.run_sync(load_state, run_dir)
    # Before any service starts: the experiment's own, or exit 2 naming both.
    config = recorded_service(config, state)
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
            experiment_id = await ensure_experiment(
                client, config, state, run_dir, on_update=on_update
            )
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
                # A command may read its suggestion through the `sigopt` client: a
                # placeholder token where the service checks none (the client needs one).
                training_runs=RunEnvironment(client.base_url, token_of(config) or "unchecked")
                if kind.takes_environment
                else None,
            )
            with structlog.contextvars.bound_contextvars(run_id=state.run_id):
                coordinator = Coordinator(
                    client,
                    worker,
                    experiment_id=experiment_id,
                    settings=settings,
                    journal=journal,
                    on_progress=on_progress,
                    # GPUs and cores shared out among the slots (none unless configured).
                    resources=ResourcePool.for_settings(config.worker_settings()),
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
