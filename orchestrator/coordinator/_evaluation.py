"""Running one evaluation on the worker: its folder, its set-up, its deadline, the GPUs and
cores it holds, its SigOpt training run (`_training_runs.py`), and the cancel scope
through which a stop or the breaker reaches it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import structlog

from orchestrator.coordinator._model import PREPARE_TIMEOUT_S
from orchestrator.coordinator._stats import RunningEvaluation, RunStats
from orchestrator.coordinator._training_runs import FINISH_TIMEOUT_S, RunBinder
from sigopt_service.models import Suggestion
from workers.base import Evaluation, EvaluationTask, Failed, Outcome, Worker
from workers.errors import BrokenWorker
from workers.resources import Resources

log = structlog.get_logger()


def evaluation_task(suggestion: Suggestion) -> EvaluationTask | None:
    """The suggestion's task as the worker sees it (multitask); None without one."""
    task = suggestion.task
    return None if task is None else EvaluationTask(task.name, task.cost)


class Stopped:
    """An evaluation cancelled by a stop or the breaker (not an outcome)."""

    def __repr__(self) -> str:
        return "STOPPED"


STOPPED = Stopped()


class Evaluations:
    """Runs evaluations on one worker and cancels every running one on demand.

    `stats.running` counts what runs and `stats.running_by_slot` says what each holds;
    `on_change` is called when they change.
    """

    def __init__(
        self,
        worker: Worker,
        stats: RunStats,
        on_change: Callable[[], None],
        *,
        timeout_s: float | None,
        run_dir: Path | None,
        runs: RunBinder | None = None,
    ) -> None:
        self._worker = worker
        self._runs = runs
        self._stats = stats
        self._on_change = on_change
        self._timeout_s = timeout_s
        self._run_dir = run_dir
        self._scopes: set[anyio.CancelScope] = set()
        self._root_made = False

    def cancel_all(self) -> None:
        for scope in self._scopes:
            scope.cancel()

    async def evaluate(
        self,
        suggestion: Suggestion,
        attempt: int,
        *,
        slot: int,
        resources: Resources,
    ) -> Outcome | BrokenWorker | Stopped:
        """The outcome (a deadline passed is `Failed("timeout")`), the `BrokenWorker` that
        made the worker unusable, or `STOPPED` when `cancel_all` reached it. The worker
        gets `resources` (held by the caller for as long as this runs) in the
        `Evaluation`; it has killed what the evaluation started when this returns."""
        timeout = self._timeout_s
        outcome: Outcome | BrokenWorker | None = None
        # Registered before the first await, so a cancel that lands while the folder is
        # being made still reaches this evaluation.
        scope = anyio.CancelScope()
        self._scopes.add(scope)
        self._stats.running += 1
        self._stats.running_by_slot[slot] = RunningEvaluation(
            slot, suggestion.id, resources.gpus, resources.cpus
        )
        self._on_change()
        try:
            with scope:
                run, env = (None, {}) if self._runs is None else await self._runs.bind(suggestion)
                evaluation = Evaluation(
                    id=suggestion.id,
                    assignments=suggestion.assignments,
                    workdir=await self._workdir(suggestion, attempt),
                    attempt=attempt,
                    gpus=resources.gpus,
                    cpus=resources.cpus,
                    env=env,
                    task=evaluation_task(suggestion),
                )
                try:
                    await self._prepare_worker(evaluation)
                    with anyio.fail_after(timeout):
                        outcome = await self._worker.evaluate(evaluation)
                except TimeoutError:
                    outcome = Failed(reason="timeout", details={"timeout_s": timeout or 0})
                except BrokenWorker as exc:
                    outcome = exc
                except Exception as exc:  # a bug in a worker is still no parameter failure
                    log.exception("worker_error")
                    outcome = BrokenWorker(f"{type(exc).__name__}: {exc}")
                if self._runs is not None and not isinstance(outcome, BrokenWorker):
                    # The command has ended: what it logged to its run decides the outcome,
                    # so reading the run is shielded from a stop (as a command's result
                    # file is), and bounded.
                    with anyio.CancelScope(shield=True), anyio.move_on_after(FINISH_TIMEOUT_S):
                        outcome = await self._runs.finish(run, outcome)
        finally:
            self._scopes.discard(scope)
            self._stats.running -= 1
            self._stats.running_by_slot.pop(slot, None)
        return STOPPED if outcome is None else outcome

    async def _prepare_worker(self, evaluation: Evaluation) -> None:
        """The worker's set-up, outside the evaluation's deadline but bounded on its own."""
        try:
            with anyio.fail_after(PREPARE_TIMEOUT_S):
                await self._worker.prepare(evaluation)
        except TimeoutError as exc:
            raise BrokenWorker(f"worker not ready after {PREPARE_TIMEOUT_S:g} s") from exc

    def folder(self, suggestion: Suggestion, attempt: int) -> Path | None:
        """The evaluation's folder, `run_dir/evaluations/<suggestion>-<attempt>` (None when
        the kind keeps no folders)."""
        if self._run_dir is None:
            return None
        return self._run_dir / "evaluations" / f"{suggestion.id}-{attempt}"

    async def _workdir(self, suggestion: Suggestion, attempt: int) -> Path | None:
        folder = self.folder(suggestion, attempt)
        if folder is not None and not self._root_made:
            # Once per run, explicitly 0o700 (`parents=True` in the worker would give it the
            # umask's mode). The evaluation's own folder is the worker's to make.
            await anyio.Path(folder.parent).mkdir(parents=True, exist_ok=True, mode=0o700)
            self._root_made = True
        return folder
