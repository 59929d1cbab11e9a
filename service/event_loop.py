"""Which event loop a process of ours runs on: uvloop where it is installed, else asyncio's.

Shared by the service's and the orchestrator's command lines (and the benchmarks, which
time what those commands run). uvloop is a dependency on Linux and macOS; it does the
loop's own work (polling, timers, socket reads and writes) in C. Measured on a 2-core
machine, 16 workers x 0.1 s x 400 evaluations through the embedded service, three
alternating runs each: utilization with the random engine 0.952 -> 0.964 (median), the
HTTP floor 0.947 -> 0.956; with TPE, whose cost is the optimizer's own, no change (0.893
-> 0.894). Most of it is the coordinator's side: its report requests wait less in the
loop's queue (report p50 2.35 -> 2.0 ms).

`SIGOPT_EVENT_LOOP=asyncio` turns it off, for a bug to tell apart or a comparison.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os

ENV_VAR = "SIGOPT_EVENT_LOOP"


class EventLoopChoiceError(ValueError):
    """`SIGOPT_EVENT_LOOP` names no loop we know, or one that is not installed."""


def uses_uvloop() -> bool:
    choice = os.environ.get(ENV_VAR, "").strip().lower()
    installed = importlib.util.find_spec("uvloop") is not None
    if choice in ("", "auto"):
        return installed
    if choice == "asyncio":
        return False
    if choice == "uvloop":
        if not installed:
            raise EventLoopChoiceError(f"{ENV_VAR}=uvloop, but uvloop is not installed")
        return True
    raise EventLoopChoiceError(
        f"{ENV_VAR}={os.environ[ENV_VAR]!r}: expected 'auto', 'uvloop' or 'asyncio'"
    )


def backend_options() -> dict[str, object]:
    """`anyio.run(..., backend_options=backend_options())`."""
    return {"use_uvloop": uses_uvloop()}


def running_loop_name() -> str:
    """ "uvloop" or "asyncio": the loop this coroutine runs on, for start-up logs."""
    return type(asyncio.get_running_loop()).__module__.partition(".")[0]
