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
- A stop (`stop` then `drain_s`, or `force`) cancels evaluations; their suggestions are
  left open for resume or deleted (`on_stop`), and never reported failed.
- The failure breaker cancels everything running and deletes those suggestions, so the
  run ends with nothing of its own open.
"""

from __future__ import annotations

import enum
import math
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import anyio
import structlog

from orchestrator.client import Reported, ServiceClient
from orchestrator.errors import BudgetExhausted, ConfigError, ServiceRejected
from orchestrator.journal import ReportJournal
from sigopt_service.models import Experiment, MetricEvaluation, Objective, Suggestion
from workers.base import Completed, Evaluation, Failed, Outcome, Worker
from workers.errors import BrokenWorker

log = structlog.get_logger()

#: Metadata key tying a suggestion to the run that asked for it (resume matches on it).
RUN_ID_KEY = "run_id"
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


@dataclass
class RunStats:
    """Live counters of this run; the progress display reads them."""

    budget: int = 0
    observed_at_start: int = 0
    completed: int = 0
    failed: int = 0
    infrastructure_errors: int = 0
    adopted: int = 0
    rejected: int = 0
    running: int = 0
    consecutive_failures: int = 0
    best_value: float | None = None
    best_assignments: dict[str, int | float | str] | None = None
    started_at: float = 0.0

    @property
    def finished(self) -> int:
        return self.completed + self.failed

    @property
    def observed(self) -> int:
        return self.observed_at_start + self.finished

    def __repr__(self) -> str:
        return (
            f"RunStats(observed={self.observed}/{self.budget}, completed={self.completed}, "
            f"failed={self.failed}, running={self.running}, best={self.best_value})"
        )


@dataclass(frozen=True)
class RunSummary:
    experiment_id: str
    reason: ExitReason
    stats: RunStats
    elapsed_s: float
    left_open: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Finished:
    """An evaluation that produced an outcome to report."""

    outcome: Outcome
    attempt: int
    duration_s: float


class _Stopped:
    """An evaluation cancelled by a stop or the breaker (not an outcome)."""


STOPPED = _Stopped()


class Coordinator:
    def __init__(
        self,
        client: ServiceClient,
        worker: Worker,
        *,
        experiment_id: str,
        settings: CoordinatorSettings,
        journal: ReportJournal | None = None,
        on_progress: Callable[[RunStats], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._worker = worker
        self._eid = experiment_id
        self._settings = settings
        self._journal = journal
        self._on_progress = on_progress
        self._clock = clock
        self.stats = RunStats()
        self._experiment: Experiment | None = None
        self._adopted: deque[Suggestion] = deque()
        #: Observations plus open suggestions that count against the budget.
        self._committed = 0
        self._evaluations_root_made = False
        self._stopping = False
        #: The service refused a suggestion: other runs hold the rest of the budget.
        self._budget_full = False
        self._reason = ExitReason.BUDGET_REACHED
        self._evaluation_scopes: set[anyio.CancelScope] = set()
        self._left_open: list[str] = []

    def __repr__(self) -> str:
        return (
            f"Coordinator(experiment={self._eid}, committed={self._committed}, "
            f"stopping={self._stopping}, {self.stats!r})"
        )

    # -- the run ----------------------------------------------------------------------
    async def run(
        self, stop: anyio.Event | None = None, force: anyio.Event | None = None
    ) -> RunSummary:
        stop = stop or anyio.Event()
        force = force or anyio.Event()
        self.stats.started_at = self._clock()
        await self._prepare()
        if stop.is_set():
            self._stop(ExitReason.STOPPED)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_stop, stop, force)
            async with anyio.create_task_group() as slots:
                for slot in range(self._settings.workers):
                    slots.start_soon(self._slot, slot)
            tg.cancel_scope.cancel()
        await self._finish()
        elapsed = self._clock() - self.stats.started_at
        log.info(
            "run_finished",
            experiment_id=self._eid,
            reason=self._reason.value,
            completed=self.stats.completed,
            failed=self.stats.failed,
            elapsed_s=round(elapsed, 3),
        )
        return RunSummary(self._eid, self._reason, self.stats, elapsed, tuple(self._left_open))

    async def _finish(self) -> None:
        """Decide how the run ended, then leave nothing of its own open that should not be."""
        if self._reason is ExitReason.STOPPED and self.stats.observed >= self.stats.budget:
            self._reason = ExitReason.BUDGET_REACHED  # the drain finished the budget
        if self._reason is ExitReason.STOPPED and self._settings.on_stop == "leave_open":
            self._left_open.extend(s.id for s in self._adopted)
            return
        # The run ends for good (budget, breaker, broken worker) or deletes on stop: drop
        # adopted suggestions it never got to, and any orphan of a suggest request that
        # reached the service after the client gave up on it.
        leftovers = list(self._adopted)
        self._adopted.clear()
        if self._reason is not ExitReason.STOPPED:
            in_queue = {s.id for s in leftovers}
            leftovers += [
                s
                for s in await self._client.open_suggestions(self._eid)
                if s.id not in in_queue and self._is_mine(s)
            ]
        for suggestion in leftovers:
            await self._delete(suggestion, "run_ended")

    def _is_mine(self, suggestion: Suggestion) -> bool:
        return (suggestion.metadata or {}).get(RUN_ID_KEY) == self._settings.run_id

    async def _prepare(self) -> None:
        experiment = await self._client.get_experiment(self._eid)
        if experiment.observation_budget is None:
            raise ConfigError(
                f"experiment {self._eid} has no observation_budget: the run would never stop",
                key="experiment.observation_budget",
            )
        self._experiment = experiment
        observed = experiment.progress.observation_count if experiment.progress else 0
        self.stats.budget = experiment.observation_budget
        self.stats.observed_at_start = observed
        open_now = await self._client.open_suggestions(self._eid)
        mine = [s for s in open_now if self._is_mine(s)]
        if self._settings.fresh:
            for s in mine:
                await self._client.delete_suggestion(self._eid, s.id)
            log.info("leftovers_deleted", experiment_id=self._eid, count=len(mine))
            open_now = [s for s in open_now if s not in mine]
            mine = []
        foreign = len(open_now) - len(mine)
        unsent = sorted(await self._replay_journal(mine), key=lambda s: int(s.id))
        replayed = len(mine) - len(unsent)
        self.stats.observed_at_start += replayed
        # Never adopt past the budget: a suggest that reached the service after the client
        # gave up on it leaves one more open suggestion than the run had reserved.
        room = max(0, self.stats.budget - (observed + replayed) - foreign)
        for excess in unsent[room:]:
            await self._client.delete_suggestion(self._eid, excess.id)
            log.info("excess_suggestion_deleted", suggestion_id=excess.id)
        self._adopted.extend(unsent[:room])
        self.stats.adopted = len(self._adopted)
        # Every open suggestion counts: ours are adopted, others' belong to other runs.
        self._committed = observed + replayed + foreign + len(self._adopted)
        log.info(
            "run_started",
            experiment_id=self._eid,
            budget=self.stats.budget,
            observed=observed,
            adopted=len(self._adopted),
            foreign_open=foreign,
            workers=self._settings.workers,
        )
        self._progress()

    async def _replay_journal(self, mine: list[Suggestion]) -> list[Suggestion]:
        """Report results a previous run computed but could not send; returns the rest."""
        if self._journal is None:
            return mine
        pending = {p.suggestion_id: p for p in await self._journal.pending()}
        rest = []
        for s in mine:
            entry = pending.get(s.id)
            if entry is None:
                rest.append(s)
                continue
            stored = await self._send(s, entry.values, entry.failed, entry.metadata)
            await self._journal.done(s.id)
            if not stored:
                # Refused (the values no longer fit the experiment): evaluate it afresh.
                rest.append(s)
                continue
            log.info("journal_replayed", suggestion_id=s.id)
        return rest

    async def _watch_stop(self, stop: anyio.Event, force: anyio.Event) -> None:
        await stop.wait()
        if not self._stopping:
            self._stop(ExitReason.STOPPED)
        log.info("drain_started", running=self.stats.running, drain_s=self._settings.drain_s)
        with anyio.move_on_after(self._settings.drain_s):
            await force.wait()
        log.info("evaluations_cancelled", running=self.stats.running)
        self._cancel_evaluations()

    def _stop(self, reason: ExitReason) -> None:
        self._stopping = True
        self._reason = reason

    def _cancel_evaluations(self) -> None:
        for scope in self._evaluation_scopes:
            scope.cancel()

    # -- one slot ---------------------------------------------------------------------
    def _next_job(self) -> Suggestion | Literal["new"] | None:
        """Decide (no await): an adopted suggestion, a new one (budget reserved), or stop."""
        if self._stopping:
            return None
        if self._adopted:
            return self._adopted.popleft()
        if self._budget_full or self._committed >= self.stats.budget:
            return None
        self._committed += 1
        return "new"

    async def _slot(self, slot: int) -> None:
        with structlog.contextvars.bound_contextvars(experiment_id=self._eid, worker=slot):
            job: Suggestion | Literal["new"] | None = self._next_job()
            while job is not None:
                suggestion = job if isinstance(job, Suggestion) else await self._new(slot)
                if suggestion is None:
                    return
                with structlog.contextvars.bound_contextvars(suggestion_id=suggestion.id):
                    finished = await self._run_suggestion(suggestion)
                if finished is None:
                    job = self._next_job()
                    continue
                # Reported before (or, in one request, together with) asking the next
                # suggestion: the service never holds more than N open suggestions of this
                # run, and the next one already knows this outcome.
                job = await self._report(slot, suggestion, finished)
                if isinstance(job, Suggestion):
                    # Made with (or right after) the report. An adopted one passes
                    # through: `_next_job` hands those out only while not stopping.
                    job = await self._take_prefetched(job)

    async def _new(
        self, slot: int, *, request_key: str | None = None, maybe_created: bool = False
    ) -> Suggestion | None:
        """A new suggestion for a budget slot `_next_job` already reserved; None when the
        service says other runs on this experiment have taken the rest of the budget.
        `request_key`/`maybe_created`: see `ServiceClient.suggest`."""
        try:
            return await self._client.suggest(
                self._eid,
                metadata=self._base_metadata(slot),
                within_budget=True,
                request_key=request_key,
                maybe_created=maybe_created,
            )
        except BudgetExhausted:
            self._budget_taken()
            return None
        except BaseException:
            self._committed -= 1
            raise

    def _budget_taken(self) -> None:
        """The service refused a reserved slot: other runs on this experiment took it."""
        self._committed -= 1
        self._budget_full = True
        log.info("budget_taken_by_other_runs")

    def _base_metadata(self, slot: int) -> dict[str, str | int | float]:
        return {
            RUN_ID_KEY: self._settings.run_id,
            "worker_slot": slot,
            "host": self._settings.host[:METADATA_STRING_MAX],
        }

    async def _run_suggestion(self, suggestion: Suggestion) -> _Finished | None:
        """Evaluate, re-running after infrastructure faults; None if nothing is to report."""
        attempt = 0
        while True:
            attempt += 1
            started = self._clock()
            result = await self._evaluate(suggestion, attempt)
            duration = self._clock() - started
            if isinstance(result, _Stopped):
                await self._abandon(suggestion)
                return None
            if isinstance(result, BrokenWorker):
                self.stats.infrastructure_errors += 1
                log.warning("worker_broken", attempt=attempt, error=str(result)[:300])
                if attempt <= self._settings.max_retries and not self._stopping:
                    continue
                if self._stopping and self._reason is ExitReason.STOPPED:
                    await self._abandon(suggestion)
                    return None
                await self._delete(suggestion, "worker_broken")
                if attempt > self._settings.max_retries and not self._stopping:
                    self._stop(ExitReason.BROKEN_WORKER)
                    self._cancel_evaluations()
                return None
            return _Finished(result, attempt, duration)

    async def _evaluate(
        self, suggestion: Suggestion, attempt: int
    ) -> Outcome | BrokenWorker | _Stopped:
        if self._stopping:
            return STOPPED
        timeout = self._settings.evaluation_timeout_s
        outcome: Outcome | BrokenWorker | None = None
        # Registered before the first await, so a cancel that lands while the folder is
        # being made still reaches this evaluation.
        scope = anyio.CancelScope()
        self._evaluation_scopes.add(scope)
        self.stats.running += 1
        self._progress()
        try:
            with scope:
                workdir = await self._workdir(suggestion, attempt)
                evaluation = Evaluation(
                    id=suggestion.id,
                    assignments=suggestion.assignments,
                    workdir=workdir,
                    attempt=attempt,
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
        finally:
            self._evaluation_scopes.discard(scope)
            self.stats.running -= 1
        return STOPPED if outcome is None else outcome

    async def _prepare_worker(self, evaluation: Evaluation) -> None:
        """The worker's set-up, outside the evaluation's deadline but bounded on its own."""
        try:
            with anyio.fail_after(PREPARE_TIMEOUT_S):
                await self._worker.prepare(evaluation)
        except TimeoutError as exc:
            raise BrokenWorker(f"worker not ready after {PREPARE_TIMEOUT_S:g} s") from exc

    async def _workdir(self, suggestion: Suggestion, attempt: int) -> Path | None:
        if self._settings.run_dir is None:
            return None
        root = self._settings.run_dir / "evaluations"
        if not self._evaluations_root_made:
            # Once per run, explicitly 0o700 (`parents=True` in the worker would give it the
            # umask's mode). The evaluation's own folder is the worker's to make.
            await anyio.Path(root).mkdir(parents=True, exist_ok=True, mode=0o700)
            self._evaluations_root_made = True
        return root / f"{suggestion.id}-{attempt}"

    async def _take_prefetched(self, suggestion: Suggestion) -> Suggestion | None:
        """The suggestion that came with the last report, unless the run stopped while it
        was on its way: never started, it is deleted rather than left open."""
        if not self._stopping:
            return suggestion
        await self._delete(suggestion, "not_started")
        return None

    # -- reporting --------------------------------------------------------------------
    async def _report(
        self, slot: int, suggestion: Suggestion, finished: _Finished
    ) -> Suggestion | Literal["new"] | None:
        """Report the outcome; the slot's next job (see `_next_job`), which is the next
        suggestion itself when it came in the same request."""
        with structlog.contextvars.bound_contextvars(suggestion_id=suggestion.id):
            return await self._report_in_context(slot, suggestion, finished)

    async def _report_in_context(
        self, slot: int, suggestion: Suggestion, finished: _Finished
    ) -> Suggestion | Literal["new"] | None:
        outcome = self._match_metrics(finished.outcome)
        metadata = {
            **self._base_metadata(slot),
            "duration_s": round(finished.duration_s, 4),
            "attempt": finished.attempt,
        }
        if isinstance(outcome, Failed):
            metadata.update(_failure_metadata(outcome))
            values: list[MetricEvaluation] = []
        else:
            values = [
                MetricEvaluation(name=v.name, value=v.value, value_stddev=v.stddev)
                for v in outcome.values
            ]
        failed = outcome.is_failed
        # Decided before the await, as `_next_job` does: "new" reserves the next slot. Only
        # a new suggestion can come with the report (an adopted one is already open).
        asks = not (self._stopping or self._adopted or self._will_trip(outcome))
        if not asks or self._next_job() is None:
            self._settle(
                await self._send(suggestion, values, failed, metadata), suggestion, outcome
            )
            return self._next_job()
        try:
            reported = await self._send_and_ask(slot, suggestion, values, failed, metadata)
        except BaseException:
            self._committed -= 1  # the reserved slot was not used
            raise
        self._settle(reported.observation is not None, suggestion, outcome)
        following = reported.next
        if isinstance(following, Suggestion):
            return following
        if following is None:
            self._budget_taken()
            return None
        if self._stopping:  # a stop meanwhile: the slot reserved before the report is free
            self._committed -= 1
            return None
        # Not made with the report: ask for it with the report's key, which finds a
        # suggestion the combined request may have made instead of making a second.
        return await self._new(
            slot, request_key=following.request_key, maybe_created=following.maybe_created
        )

    def _settle(self, stored: bool, suggestion: Suggestion, outcome: Outcome) -> None:
        if stored:
            self._account(suggestion, outcome)
        else:
            self._committed -= 1  # nothing was stored: the budget slot is free again

    async def _send_and_ask(
        self,
        slot: int,
        suggestion: Suggestion,
        values: Sequence[MetricEvaluation],
        failed: bool,
        metadata: dict[str, str | int | float],
    ) -> Reported:
        """`_send`, and the next suggestion in the same request (`report_and_ask`). What
        it raises means the report may not be stored: journaled, as in `_send`."""
        try:
            reported = await self._client.report_and_ask(
                self._eid,
                suggestion.id,
                values=None if failed else values,
                failed=failed,
                metadata=metadata,
                next_metadata=self._base_metadata(slot),
                within_budget=True,
            )
        except BaseException:
            await self._journal_report(suggestion, values, failed, metadata)
            raise
        if reported.refused is not None:
            self._rejected(reported.refused)
        else:
            log.debug("observation_sent", failed=failed)
        return reported

    def _rejected(self, exc: ServiceRejected) -> None:
        # Someone deleted the suggestion meanwhile (400 "No suggestion"): nothing to retry.
        self.stats.rejected += 1
        log.error("observation_rejected", status=exc.status, error=exc.message)

    async def _journal_report(
        self,
        suggestion: Suggestion,
        values: Sequence[MetricEvaluation],
        failed: bool,
        metadata: dict[str, str | int | float],
    ) -> None:
        """The service stayed unreachable past the retry budget, or the run is being
        cancelled: keep the computed outcome so the next run reports it instead of
        evaluating again. Shielded, bounded: it is one line appended to a file."""
        if self._journal is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self._journal.record(suggestion.id, values, failed, metadata)
                log.warning("observation_journaled")

    def _will_trip(self, outcome: Outcome) -> bool:
        """Whether accounting `outcome` trips the failure breaker (so no next suggestion)."""
        stats = self.stats
        return isinstance(outcome, Failed) and self._settings.failures.is_tripped(
            stats.consecutive_failures + 1, stats.failed + 1, stats.finished + 1
        )

    async def _send(
        self,
        suggestion: Suggestion,
        values: Sequence[MetricEvaluation],
        failed: bool,
        metadata: dict[str, str | int | float],
    ) -> bool:
        """Report; False if the service refused it (the suggestion was deleted meanwhile)."""
        stored = True
        try:
            await self._client.observe(
                self._eid,
                suggestion.id,
                values=None if failed else values,
                failed=failed,
                metadata=metadata,
            )
            log.debug("observation_sent", failed=failed)
        except ServiceRejected as exc:
            self._rejected(exc)
            stored = False
        except BaseException:
            await self._journal_report(suggestion, values, failed, metadata)
            raise
        return stored

    def _match_metrics(self, outcome: Outcome) -> Outcome:
        """Name the values after the experiment's metrics; a mismatch is a failed evaluation."""
        if not isinstance(outcome, Completed):
            return outcome
        assert self._experiment is not None
        names = [m.name for m in self._experiment.metrics]
        values = outcome.values
        if len(values) == 1 and len(names) == 1 and values[0].name in (None, names[0]):
            # An unnamed value ({"value": v}, a bare number) is the one metric's.
            return Completed(
                values=(values[0].__class__(names[0], values[0].value, values[0].stddev),)
            )
        got = sorted(str(v.name) for v in values)
        if sorted(str(n) for n in names) != got or len(set(got)) != len(got):
            return Failed(
                reason="metric_mismatch",
                details={"message": f"expected metrics {sorted(str(n) for n in names)}, got {got}"},
            )
        return outcome

    def _account(self, suggestion: Suggestion, outcome: Outcome) -> None:
        stats = self.stats
        if isinstance(outcome, Failed):
            stats.failed += 1
            stats.consecutive_failures += 1
            log.info("evaluation_failed", reason=outcome.reason)
        else:
            stats.completed += 1
            stats.consecutive_failures = 0
            self._track_best(suggestion, outcome)
        self._progress()
        if not self._stopping and self._settings.failures.is_tripped(
            stats.consecutive_failures, stats.failed, stats.finished
        ):
            log.error(
                "failure_limit_reached",
                failed=stats.failed,
                finished=stats.finished,
                consecutive=stats.consecutive_failures,
            )
            self._stop(ExitReason.FAILURE_LIMIT)
            self._cancel_evaluations()

    def _track_best(self, suggestion: Suggestion, outcome: Completed) -> None:
        assert self._experiment is not None
        optimized = self._experiment.optimized_metrics()
        if len(optimized) != 1:
            return
        metric = optimized[0]
        value = next((v.value for v in outcome.values if v.name == metric.name), None)
        if value is None:
            return
        sign = 1.0 if metric.objective is Objective.MAXIMIZE else -1.0
        best = self.stats.best_value
        if best is None or sign * value > sign * best:
            self.stats.best_value = value
            self.stats.best_assignments = dict(suggestion.assignments)

    async def _abandon(self, suggestion: Suggestion) -> None:
        """A cancelled evaluation: no parameter failure, so never reported `failed`."""
        if self._settings.on_stop == "delete" or self._reason is not ExitReason.STOPPED:
            await self._delete(suggestion, "stopped")
        else:
            self._left_open.append(suggestion.id)
            log.info("suggestion_left_open")

    async def _delete(self, suggestion: Suggestion, why: str) -> None:
        # Shielded and bounded: the deletion must happen even while the run is cancelled.
        with anyio.CancelScope(shield=True), anyio.move_on_after(30):
            await self._client.delete_suggestion(self._eid, suggestion.id)
            self._committed -= 1
            log.info("suggestion_deleted", why=why)

    def _progress(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.stats)


def _failure_metadata(outcome: Failed) -> dict[str, str | int | float]:
    """`failure_reason` plus the details, each within SigOpt's metadata limits."""
    out: dict[str, str | int | float] = {"failure_reason": outcome.reason}
    for key, value in list(outcome.details.items())[:20]:
        name = f"failure_{key}"[:100]
        if isinstance(value, str):
            # The end of a traceback or of stderr says the most.
            out[name] = value[-METADATA_STRING_MAX:]
        elif isinstance(value, float) and not math.isfinite(value):
            out[name] = str(value)
        else:
            out[name] = value
    return out
