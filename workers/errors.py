"""Worker exceptions. A failing *objective* is never an exception: it is a `Failed` outcome.

```
WorkerError
├── BrokenWorker    the worker itself is unusable (pool process lost, cannot import target);
│                   an infrastructure fault: the coordinator re-runs or deletes the suggestion
└── WorkerTimeout   the evaluation passed its deadline and was killed
```
"""

from __future__ import annotations


class WorkerError(Exception):
    """Base of the worker errors."""


class BrokenWorker(WorkerError):
    """The worker cannot evaluate anything (not the parameters' fault)."""


class WorkerTimeout(WorkerError):
    """The evaluation ran past its deadline; its processes were killed."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"evaluation exceeded its timeout of {timeout_s:g} s")
        self.timeout_s = timeout_s
