"""The registry of worker kinds: the config's `workers.kind` name to the kind's descriptor.

```python
kind = worker_kind("subprocess")
kind.check_settings(settings)          # InvalidSetting
worker = kind.build(settings)          # BrokenWorker
```
Adding a kind is a `WorkerKind` beside its worker and one line here (and in `KindName`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from workers.async_function import ASYNC_KIND
from workers.base import WorkerKind
from workers.dask import DASK_KIND
from workers.process_pool import PROCESS_KIND
from workers.subprocess import SUBPROCESS_KIND

__all__ = ["KINDS", "KindName", "worker_kind"]

#: The names `workers.kind` accepts; a test holds it equal to `KINDS`' keys.
KindName = Literal["async", "process", "subprocess", "dask"]

KINDS: Mapping[str, WorkerKind] = MappingProxyType(
    {kind.name: kind for kind in (ASYNC_KIND, PROCESS_KIND, SUBPROCESS_KIND, DASK_KIND)}
)


def worker_kind(name: str) -> WorkerKind:
    """The descriptor of the kind called `name`; `KeyError` for no such kind."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"no worker kind {name!r} (known: {', '.join(KINDS)})") from None
