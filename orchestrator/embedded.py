"""The embedded service: `python -m sigopt_service` as a child process of the run.

```python
async with embedded_service(Path("runs/x/service.db")) as url:   # "http://127.0.0.1:PORT"
    ...
```
A child process, not a task in our event loop: the service's optimizer (a TPE ask holds
the GIL for milliseconds) and SQLite work then run on the machine's other core instead of
stalling the coordinator (the utilization this gains is in docs/benchmark-results.md).
It runs in its own session, so a Ctrl-C at the terminal reaches only the coordinator,
which keeps the service while it drains. Its stdin is a pipe we hold: when
we exit, however (kill -9 included), the pipe closes and the service stops, so it never
outlives the run. Its warnings and errors are forwarded to our log.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import structlog
from anyio.abc import Process, TaskStatus
from anyio.streams.text import TextReceiveStream

from orchestrator.errors import ServiceError

log = structlog.get_logger()

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
_FORWARDED = {"warning", "error", "critical"}
_ERROR_LINE = re.compile(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b.*")


async def _follow_logs(process: Process, *, task_status: TaskStatus[str]) -> None:
    """Read the service's JSON log lines: report its URL once it listens, then forward
    what deserves attention. Ends when the service closes its stderr."""
    assert process.stderr is not None
    started = False
    tail: list[str] = []
    buffer = ""
    async for chunk in TextReceiveStream(process.stderr):
        buffer += chunk
        *lines, buffer = buffer.split("\n")
        for line in lines:
            tail = [*tail[-19:], line]
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue  # a stray value on stderr is nothing to act on
            if not started and event.get("event") == "service_listening":
                started = True
                task_status.started(str(event["url"]))
            elif event.get("level") in _FORWARDED:
                log.warning(
                    "embedded_service_log",
                    level=event.get("level"),
                    service_event=event.get("event"),
                    detail=line[:500],
                )
    if not started:
        # The last line of a traceback names the error ("DatabaseError: Cannot open ...");
        # in an exception group's box it sits inside `| ` borders.
        lines = [line.strip(" |+-") for line in tail]
        cause = next(
            (line for line in reversed(lines) if _ERROR_LINE.match(line)),
            next((line for line in reversed(lines) if line), "no output"),
        )
        raise ServiceError(f"the embedded service exited before listening: {cause[-1000:]}")


@asynccontextmanager
async def embedded_service(db: Path) -> AsyncIterator[str]:
    argv = [
        sys.executable,
        "-m",
        "sigopt_service",
        "--port",
        "0",
        "--db",
        str(db),
        "--log-format",
        "json",
        "--exit-with-stdin",
    ]
    process = await anyio.open_process(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        try:
            async with anyio.create_task_group() as tg:
                with anyio.fail_after(START_TIMEOUT_S):
                    url = await tg.start(_follow_logs, process)
                log.info("embedded_service_started", url=url, pid=process.pid, db=str(db))
                yield url
                # Closing its stdin is the stop signal; the log reader ends with the process.
                with anyio.CancelScope(shield=True):
                    await _stop(process)
        except BaseExceptionGroup as group:
            # The reader is the group's only task: surface its error as itself.
            failed = group.exceptions[0] if len(group.exceptions) == 1 else None
            if isinstance(failed, ServiceError):
                raise failed from None
            raise
    finally:
        with anyio.CancelScope(shield=True):
            await _stop(process)


async def _stop(process: Process) -> None:
    """Ask (close stdin), then insist (SIGTERM, SIGKILL); bounded, always reaped."""
    if process.returncode is not None:
        return
    if process.stdin is not None:
        await process.stdin.aclose()
    with anyio.move_on_after(STOP_TIMEOUT_S):
        await process.wait()
        return
    log.warning("embedded_service_kill", pid=process.pid)
    process.kill()
    with anyio.move_on_after(5):
        await process.wait()
