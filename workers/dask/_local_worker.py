"""Preloaded (`dask_setup`) into each worker process of a LocalCluster the run starts.

Those processes are the orchestrator's children, in its process group: a Ctrl-C at the
terminal reaches them too, and by default it would kill them, taking the running
evaluations with them, where the first Ctrl-C should let those finish (the drain). The
orchestrator owns signals: it stops the evaluations and closes the cluster itself. So
these workers ignore SIGINT, as the process kind's pool children do.
"""

from __future__ import annotations

import signal

__all__ = ["dask_setup"]


def dask_setup(worker: object) -> None:
    """Called by Dask in the worker process's main thread as the worker starts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
