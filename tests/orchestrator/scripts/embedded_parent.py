"""A run stand-in: starts the embedded service, forks a child that keeps the service's
stdin pipe open (as a multiprocessing objective would), prints both pids, then waits to
be killed with -9."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anyio
import psutil
import structlog

from orchestrator.embedded import embedded_service


async def main() -> None:
    async with embedded_service(Path(sys.argv[1])):
        (service,) = [p for p in psutil.Process().children() if "service" in " ".join(p.cmdline())]
        child = os.fork()
        if child == 0:
            time.sleep(30)  # noqa: ASYNC251 - the forked child only waits, then _exits
            os._exit(0)
        print(service.pid, child, flush=True)
        await anyio.sleep(60)


# Logs to stderr: stdout carries only the two pids the test reads.
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
anyio.run(main)
