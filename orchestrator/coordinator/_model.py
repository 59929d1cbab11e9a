"""The coordinator's settings, its exit reasons, the failure breaker and the run's summary."""

from __future__ import annotations

import enum
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from orchestrator.coordinator._stats import RunStats

#: Metadata key tying a suggestion to the run that asked for it (resume matches on it).
RUN_ID_KEY = "run_id"
#: Metadata keys of the GPU ids and cores an evaluation holds (`0,1`), on its suggestion
#: and its observation, when the run shares them out.
GPUS_KEY = "gpus"
CPUS_KEY = "cpus"
METADATA_STRING_MAX = 500
#: Bound on `Worker.prepare` (a process start and an import), apart from the deadline.
PREPARE_TIMEOUT_S = 120.0


class ExitReason(enum.Enum):
    BUDGET_REACHED = "budget_reached"
    STOPPED = "stopped"
    FAILURE_LIMIT = "failure_limit"
    BROKEN_WORKER = "broken_worker"


@dataclass(frozen=True)
class FailurePolicy:
    """Trip when `max_consecutive` evaluations fail in a row, or when more than
    `max_fraction` of them failed once `min_finished` have finished. None disables a rule."""

    max_consecutive: int | None = 10
    max_fraction: float | None = 0.5
    min_finished: int = 10

    def is_tripped(self, consecutive: int, failed: int, finished: int) -> bool:
        if self.max_consecutive is not None and consecutive >= self.max_consecutive:
            return True
        return (
            self.max_fraction is not None
            and finished >= self.min_finished
            and failed / finished > self.max_fraction
        )

    def is_tripped_by(self, stats: RunStats, *, one_more_failure: bool = False) -> bool:
        """`is_tripped` on the run's counts, with one more failure counted if asked (to
        know, before reporting it, whether a failure will trip it)."""
        more = int(one_more_failure)
        return self.is_tripped(
            stats.consecutive_failures + more, stats.failed + more, stats.finished + more
        )


@dataclass(frozen=True)
class RunEnvironment:
    """Where a command's `sigopt` client finds its training run: the service's base URL
    (as this run reaches it) and a token (any on a service that checks none)."""

    url: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class CoordinatorSettings:
    workers: int
    run_id: str
    evaluation_timeout_s: float | None = None
    max_retries: int = 2
    drain_s: float = 300.0
    on_stop: Literal["leave_open", "delete"] = "leave_open"
    failures: FailurePolicy = field(default_factory=FailurePolicy)
    #: Per-evaluation folders go under `run_dir/evaluations` (None: no folders).
    run_dir: Path | None = None
    #: Delete this run's leftover open suggestions instead of adopting them.
    fresh: bool = False
    host: str = field(default_factory=socket.gethostname)
    #: Give each evaluation a SigOpt training run of its suggestion, in its environment
    #: (a kind that `takes_environment`); None: none.
    training_runs: RunEnvironment | None = None


@dataclass(frozen=True)
class RunSummary:
    experiment_id: str
    reason: ExitReason
    stats: RunStats
    elapsed_s: float
    left_open: tuple[str, ...] = ()
