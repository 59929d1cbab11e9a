"""The loop: keep N suggestions open, evaluate each on a worker, report each outcome at once.

```python
coordinator = Coordinator(client, worker, experiment_id="12", settings=settings)
summary = await coordinator.run(stop=stop_event, force=force_event)
```
One task group holds N slot tasks; each loops suggest → evaluate → observe until the
budget or a stop says no. The budget is reserved *before* the `await` that asks for a
suggestion (decide, then do I/O), so observations plus open suggestions never exceed
`observation_budget`, whatever the interleaving.

Outcomes and where they go:
- `Completed` / `Failed` from the worker (a crash, NaN, non-zero exit, timeout) → one
  observation, `failed: true` with the reason in metadata for the latter.
- `BrokenWorker` (lost process, infrastructure) → the same suggestion is re-run up to
  `max_retries` times, then deleted: it is no fault of the parameters.
- GPUs and cores (`resources`, a `workers.resources.ResourcePool`): a slot takes a set
  before it asks for a suggestion, so the suggestion's metadata names them (`gpus`,
  `cpus`), the worker gets them in the `Evaluation`, the observation's metadata records
  them, and the set goes back once the evaluation ended, however it ended.
- A stop (`stop` then `drain_s`, or `force`) cancels evaluations; their suggestions are
  left open for resume or deleted (`on_stop`), and never reported failed.
- The failure breaker cancels everything running and deletes those suggestions, so the
  run ends with nothing of its own open.

The parts, one job each: `_coordinator.py` (the slot loop, composing the rest),
`_ledger.py` (the budget: reserve / release / commit), `_evaluation.py` (one evaluation on
the worker, cancellable), `_reporting.py` (the observation, sent alone or with the ask for
the next suggestion, journaled on failure), `_resume.py` (adopt, journal replay, the
end-of-run sweep), `_stats.py` (live counters, failures by reason, the last failure),
`_outcome_file.py` (each evaluation folder's `outcome.json`), `_model.py` (settings and
results).
"""

from __future__ import annotations

from orchestrator.coordinator._coordinator import Coordinator
from orchestrator.coordinator._ledger import BudgetLedger
from orchestrator.coordinator._model import (
    CPUS_KEY,
    GPUS_KEY,
    METADATA_STRING_MAX,
    PREPARE_TIMEOUT_S,
    RUN_ID_KEY,
    CoordinatorSettings,
    ExitReason,
    FailurePolicy,
    RunEnvironment,
    RunSummary,
)
from orchestrator.coordinator._outcome_file import OUTCOME_FILE, outcome_record
from orchestrator.coordinator._reporting import failure_metadata, match_metrics
from orchestrator.coordinator._stats import FailureNote, Phase, RunningEvaluation, RunStats

__all__ = [
    "CPUS_KEY",
    "GPUS_KEY",
    "METADATA_STRING_MAX",
    "OUTCOME_FILE",
    "PREPARE_TIMEOUT_S",
    "RUN_ID_KEY",
    "BudgetLedger",
    "Coordinator",
    "CoordinatorSettings",
    "ExitReason",
    "FailureNote",
    "FailurePolicy",
    "Phase",
    "RunEnvironment",
    "RunStats",
    "RunSummary",
    "RunningEvaluation",
    "failure_metadata",
    "match_metrics",
    "outcome_record",
]
