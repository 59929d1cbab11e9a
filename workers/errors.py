"""Worker exceptions. A failing *objective* is never an exception: it is a `Failed` outcome.

```
WorkerError
└── BrokenWorker    the worker itself is unusable (pool process lost, cannot import target);
                    an infrastructure fault: the coordinator re-runs or deletes the suggestion
```
A deadline is the caller's (`anyio.fail_after` around `evaluate`): it surfaces as the
caller's own `TimeoutError`, never as a worker error.
"""

from __future__ import annotations


class WorkerError(Exception):
    """Base of the worker errors."""


class BrokenWorker(WorkerError):
    """The worker cannot evaluate anything (not the parameters' fault)."""
