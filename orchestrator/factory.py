"""Build the configured worker: the one place that maps `workers.kind` to a class."""

from __future__ import annotations

from orchestrator.config import OrchestratorConfig
from orchestrator.errors import ConfigError
from workers.async_function import AsyncFunctionWorker
from workers.base import Worker
from workers.errors import BrokenWorker
from workers.process_pool import ProcessPoolWorker
from workers.subprocess import SubprocessWorker


def build_worker(config: OrchestratorConfig) -> Worker:
    """One worker object that serves all `workers.count` slots concurrently."""
    section = config.workers
    try:
        if section.kind == "async":
            assert section.function is not None
            return AsyncFunctionWorker(section.function)
        if section.kind == "process":
            assert section.function is not None
            return ProcessPoolWorker(section.function, max_workers=section.count)
        assert section.command is not None
        return SubprocessWorker(
            section.command,
            env=section.env,
            cwd=section.cwd,
            kill_grace_s=config.timeouts.kill_grace_s,
            shell=section.shell,
        )
    except BrokenWorker as exc:
        key = "workers.command" if section.kind == "subprocess" else "workers.function"
        raise ConfigError(str(exc), file=config.source, key=key) from exc
