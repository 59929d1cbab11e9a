"""Build the configured worker: the kind named by `workers.kind` builds it (`workers.kinds`)."""

from __future__ import annotations

from orchestrator.config import OrchestratorConfig
from orchestrator.errors import ConfigError
from workers.base import Worker
from workers.errors import BrokenWorker


def build_worker(config: OrchestratorConfig) -> Worker:
    """One worker object that serves all `workers.count` slots concurrently.

    A worker that cannot be built is a `ConfigError` under the setting naming what runs
    (`workers.command` or `workers.function`).
    """
    kind = config.workers.worker_kind()
    try:
        return kind.build(config.worker_settings())
    except BrokenWorker as exc:
        raise ConfigError(str(exc), file=config.source, key=f"workers.{kind.target_field}") from exc
