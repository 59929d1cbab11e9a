"""What every command shares: exit codes, and turning an error into one line and a code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from rich.console import Console

from orchestrator.coordinator import ExitReason
from orchestrator.errors import ConfigError, OrchestratorError

EXIT_CODES = {
    ExitReason.BUDGET_REACHED: 0,
    ExitReason.STOPPED: 130,
    ExitReason.FAILURE_LIMIT: 3,
    ExitReason.BROKEN_WORKER: 4,
}
EXIT_ERROR, EXIT_CONFIG = 1, 2


def sole_error(exc: BaseException) -> BaseException:
    """The one error inside (nested) task-group exception groups, if there is just one."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def guarded(fn: Callable[[], Awaitable[int]], console: Console) -> int:
    try:
        return anyio.run(fn)
    except (OrchestratorError, BaseExceptionGroup) as raised:
        exc = sole_error(raised)
        if isinstance(exc, ConfigError):
            console.print(f"[red]config error:[/] {exc}")
            return EXIT_CONFIG
        if isinstance(exc, OrchestratorError):
            console.print(f"[red]error:[/] {exc}")
            return EXIT_ERROR
        raise
