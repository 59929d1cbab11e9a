"""The dask kind as the orchestrator sees it: its checks and how it is built.

Dask is an optional dependency (`pip install 'sigopt-orchestrator[dask]'`): nothing here
imports it, so the registry of kinds loads without it, and a config naming kind `dask`
where it is missing gets a message saying what to install.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import re
from collections.abc import Collection

from workers.async_function import check_function_importable, check_function_settings
from workers.base import InvalidSetting, Worker, WorkerKind, WorkerSettings
from workers.errors import BrokenWorker
from workers.subprocess import SUBPROCESS_KIND

__all__ = ["DASK_KIND"]

#: What Dask's comms accept: `tcp://host:8786`, `tls://...`, `ucx://...`, `ws(s)://...`.
_SCHEDULER_ADDRESS = re.compile(r"(tcp|tls|ucx|ws|wss|inproc)://\S+")
_CLASS_NAME = re.compile(r"[A-Za-z_][\w.]*[.:][A-Za-z_]\w*")
_NEEDS_ONE = (
    'kind `dask` runs a `command` (an argv list such as ["{python}", "train.py", "--lr", '
    '"{lr}"]) or a `function` ("package.module:function")'
)


@functools.cache
def _dask_installed() -> bool:
    return importlib.util.find_spec("distributed") is not None


def _check_settings(settings: WorkerSettings) -> None:
    if not _dask_installed():
        raise InvalidSetting(
            "kind", "kind `dask` needs Dask: pip install 'sigopt-orchestrator[dask]'"
        )
    if settings.command and settings.function:
        raise InvalidSetting("function", f"{_NEEDS_ONE}, not both")
    if settings.function:
        check_function_settings("dask", settings)
    elif settings.command:
        SUBPROCESS_KIND.check_settings(settings)
    else:
        raise InvalidSetting("command", _NEEDS_ONE)
    _check_cluster(settings)


def _check_cluster(settings: WorkerSettings) -> None:
    if settings.scheduler is not None:
        if settings.cluster_class is not None:
            raise InvalidSetting(
                "cluster",
                "give either `scheduler` (a running Dask cluster) or `cluster` (one the "
                "run starts), not both",
            )
        if not _SCHEDULER_ADDRESS.fullmatch(settings.scheduler):
            raise InvalidSetting(
                "scheduler",
                f"must be a Dask scheduler address such as tcp://host:8786, got "
                f"{settings.scheduler!r}",
            )
    if settings.cluster_class is not None and not _CLASS_NAME.fullmatch(settings.cluster_class):
        raise InvalidSetting(
            "cluster.class",
            f"must name a class as package.module.Class, got {settings.cluster_class!r}",
        )
    for name, amount in settings.resources.items():
        if not name or not math.isfinite(amount) or amount <= 0:
            raise InvalidSetting(
                f"resources.{name}", f"must be a positive number of {name!r}, got {amount!r}"
            )


def _check_parameters(settings: WorkerSettings, parameters: Collection[str]) -> None:
    if settings.command:
        SUBPROCESS_KIND.check_parameters(settings, parameters)


def _check_runnable(settings: WorkerSettings) -> None:
    """The cluster class imports. The target is checked here only for a LocalCluster,
    whose workers share this machine: elsewhere its hosts may differ from this one."""
    if settings.cluster_class is not None:
        from workers.dask._cluster import import_cluster_class  # imports Dask

        try:
            import_cluster_class(settings.cluster_class)
        except BrokenWorker as exc:
            raise InvalidSetting("cluster.class", str(exc)) from exc
        return
    if settings.scheduler is not None:
        return
    if settings.function:
        check_function_importable(settings)
    else:
        SUBPROCESS_KIND.check_runnable(settings)


def _build(settings: WorkerSettings) -> Worker:
    # Here, not at the top: only a run of this kind pays for importing Dask, an
    # optional dependency the registry of kinds must load without.
    from workers.dask._worker import DaskWorker

    return DaskWorker(settings)


DASK_KIND = WorkerKind(
    name="dask",
    # Either runs; this is where a worker that cannot be built would be reported, and
    # a DaskWorker is always built (its faults show per evaluation).
    target_field="command",
    check_settings=_check_settings,
    check_runnable=_check_runnable,
    build=_build,
    check_parameters=_check_parameters,
    # The folder keeps what the evaluation's worker sent back: output tails, result file.
    needs_run_folder=True,
    uses_cluster=True,
)
