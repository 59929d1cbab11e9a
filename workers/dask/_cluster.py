"""Reach the Dask cluster the settings name: connect to a running scheduler, or start a
cluster (a configured class such as `dask_jobqueue.SLURMCluster`, else a `LocalCluster`
of `count` processes with one thread each) and connect to it. The client is asynchronous,
on the orchestrator's own event loop (anyio on asyncio, as Dask's).

A cluster this run starts runs its scheduler in this process, with
`distributed.scheduler.allowed-failures` at 0: a task whose worker died is failed at once
(`KilledWorker`) rather than re-run by Dask, so the coordinator's retry is the only one.
A running scheduler keeps its own setting; `ClusterEvents` then notices the loss itself.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any

import anyio
import dask
import structlog
from distributed import Client, LocalCluster

from workers.base import WorkerSettings
from workers.errors import BrokenWorker

__all__ = ["CONNECT_TIMEOUT_S", "Connection", "connect", "import_cluster_class"]

log = structlog.get_logger()

#: How long to wait for a scheduler to answer (and, once lost, for it to come back).
CONNECT_TIMEOUT_S = 20.0
#: Dask's own bound on closing the client, and on closing a cluster this run started.
CLOSE_TIMEOUT_S = 10.0
#: Dask re-running a task after its worker died would be a retry the coordinator does
#: not count (`workers.max_retries`), so a cluster we start allows none.
_NO_DASK_RETRIES = {"distributed.scheduler.allowed-failures": 0}


@dataclass(frozen=True)
class Connection:
    """The client, the cluster this run started (None for a running scheduler), and the
    scheduler's address for messages."""

    client: Client
    cluster: Any | None
    address: str

    async def aclose(self) -> None:
        """Close the client (the scheduler then releases this run's tasks, which kill
        their evaluations), then the cluster this run started. Callers bound and shield
        it."""
        try:
            await self.client.close(timeout=CLOSE_TIMEOUT_S)
        finally:
            if self.cluster is not None:
                await self.cluster.close(timeout=CLOSE_TIMEOUT_S)


def import_cluster_class(name: str) -> Any:
    """The class named "package.module.Class" (or "package.module:Class"); `BrokenWorker`
    naming it when it does not import."""
    module_name, sep, attr = name.partition(":")
    if not sep:
        module_name, _, attr = name.rpartition(".")
    if not module_name or not attr:
        raise BrokenWorker(f"cluster class {name!r} must look like 'package.module.Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BrokenWorker(
            f"cannot import {module_name!r} for cluster class {name!r}: {exc} "
            "(for Slurm, PBS and the like: pip install dask-jobqueue)"
        ) from exc
    cls = getattr(module, attr, None)
    if not isinstance(cls, type):
        raise BrokenWorker(f"cluster class {name!r}: {module_name!r} has no class {attr!r}")
    return cls


async def connect(settings: WorkerSettings) -> Connection:
    """A connected client. Raises `BrokenWorker` when the scheduler cannot be reached or
    the cluster cannot start."""
    if settings.scheduler is not None:
        return Connection(await _client(settings.scheduler), None, settings.scheduler)
    cluster = await _start_cluster(settings)
    try:
        client = await _client(cluster)
    except BaseException:
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_TIMEOUT_S):
            await cluster.close(timeout=CLOSE_TIMEOUT_S)
        raise
    address = str(cluster.scheduler_address)
    log.info("dask_cluster_started", scheduler=address, dashboard=cluster.dashboard_link)
    return Connection(client, cluster, address)


async def _client(address: Any) -> Client:
    try:
        # set_as_default=False: a library user's own default client stays theirs.
        client: Client = await Client(
            address, asynchronous=True, timeout=CONNECT_TIMEOUT_S, set_as_default=False
        )
    except (OSError, TimeoutError) as exc:
        raise BrokenWorker(f"cannot connect to the Dask scheduler at {address}: {exc}") from exc
    return client


async def _start_cluster(settings: WorkerSettings) -> Any:
    """The configured cluster class, scaled to `cluster_scale` (else `count`) workers,
    or a `LocalCluster` of `count` processes with one thread each and `resources` each."""
    try:
        with dask.config.set(_NO_DASK_RETRIES):
            if settings.cluster_class is None:
                return await LocalCluster(
                    n_workers=settings.count,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    # A free port: two runs on one machine must not collide on :8787.
                    dashboard_address=":0",
                    resources=dict(settings.resources) or None,
                    # A Ctrl-C meant for the run must not kill them (`_local_worker`).
                    preload=["workers.dask._local_worker"],
                    asynchronous=True,
                )
            cls = import_cluster_class(settings.cluster_class)
            cluster = await cls(**settings.cluster_options, asynchronous=True)
    except BrokenWorker:
        raise
    except Exception as exc:  # a cluster class may raise anything while starting
        what = settings.cluster_class or "LocalCluster"
        raise BrokenWorker(f"cannot start the Dask cluster {what}: {exc}") from exc
    scaled = cluster.scale(settings.cluster_scale or settings.count)
    if inspect.isawaitable(scaled):
        await scaled
    return cluster
