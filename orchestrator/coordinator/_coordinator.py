"""The slot loop: `Coordinator` keeps N suggestions open and composes the other parts
(the budget ledger, the evaluations, reporting, resume)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import anyio
import structlog

from orchestrator.client import ServiceClient
from orchestrator.coordinator._evaluation import STOPPED, Evaluations, Stopped
from orchestrator.coordinator._ledger import BudgetLedger, cost_of
from orchestrator.coordinator._model import (
    CoordinatorSettings,
    ExitReason,
    RunSummary,
)
from orchestrator.coordinator._outcome_file import outcome_record, write_outcome
from orchestrator.coordinator._reporting import (
    Finished,
    Metadata,
    Reporter,
    make_report,
    match_metrics,
    owner_metadata,
)
from orchestrator.coordinator._resume import Resume
from orchestrator.coordinator._stats import RunStats, count_stored, seed_best
from orchestrator.coordinator._training_runs import binder_for
from orchestrator.errors import BudgetExhausted, ConfigError
from orchestrator.journal import ReportJournal
from sigopt_service.models import Experiment, Suggestion
from workers.base import Failed, Outcome, Worker
from workers.errors import BrokenWorker
from workers.resources import NO_RESOURCES, NullResourcePool, ResourcePool, Resources

log = structlog.get_logger()

#: A slot's next job: an adopted (or prefetched) suggestion, a new one (its budget slot
#: already reserved), or nothing more to do.
Job = Suggestion | Literal["new"] | None
#: An evaluation whose outcome is still to be reported.
Done = tuple[Suggestion, Finished]


class Coordinator:
    """Runs one experiment to its end (budget, stop, breaker, broken worker); see the
    package docstring. `stats` and `ledger` are live and read-only for callers; `clock`
    measures elapsed time and evaluation durations (inject a fake one in tests).
    `resources` shares GPUs and cores out among the evaluations (`ResourcePool`); it
    must have a set for each of `settings.workers` slots (`ValueError` otherwise)."""

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
        resources: ResourcePool | NullResourcePool | None = None,
    ) -> None:
        self._resources = resources or NullResourcePool()
        # Else a slot would wait for a set before even reporting its last outcome.
        if (self._resources.capacity or settings.workers) < settings.workers:
            raise ValueError(f"{self._resources!r} has too few sets for {settings.workers} slots")
        self._client = client
        self._eid = experiment_id
        self._settings = settings
        self._on_progress = on_progress
        self._clock = clock
        self.stats = RunStats()
        self.ledger = BudgetLedger()
        self._experiment: Experiment | None = None
        self._reporter = Reporter(client, experiment_id, self.stats, journal)
        self._resume = Resume(
            client,
            experiment_id,
            run_id=settings.run_id,
            ledger=self.ledger,
            stats=self.stats,
            reporter=self._reporter,
            journal=journal,
        )
        self._evaluations = Evaluations(
            worker,
            self.stats,
            self._progress,
            timeout_s=settings.evaluation_timeout_s,
            run_dir=settings.run_dir,
            runs=binder_for(client, experiment_id, settings.training_runs),
        )
        self._stopping = False
        self._reason = ExitReason.BUDGET_REACHED

    def __repr__(self) -> str:
        return (
            f"Coordinator(experiment={self._eid}, {self.ledger!r}, "
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
        if self._reason is ExitReason.STOPPED and self.ledger.observed >= self.ledger.budget:
            self._reason = ExitReason.BUDGET_REACHED  # the drain finished the budget
        await self._resume.sweep(
            ends_for_good=self._reason is not ExitReason.STOPPED, on_stop=self._settings.on_stop
        )
        elapsed = self._clock() - self.stats.started_at
        log.info(
            "run_finished",
            experiment_id=self._eid,
            reason=self._reason.value,
            completed=self.stats.completed,
            failed=self.stats.failed,
            elapsed_s=round(elapsed, 3),
        )
        left_open = tuple(self._resume.left_open)
        return RunSummary(self._eid, self._reason, self.stats, elapsed, left_open)

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
        seed_best(self.stats, experiment)
        foreign = await self._resume.adopt(experiment, fresh=self._settings.fresh)
        log.info(
            "run_started",
            experiment_id=self._eid,
            budget=self.stats.budget,
            observed=observed,
            adopted=len(self._resume.adopted),
            replayed=self.stats.replayed,
            foreign_open=foreign,
            workers=self._settings.workers,
        )
        self._progress()

    async def _watch_stop(self, stop: anyio.Event, force: anyio.Event) -> None:
        await stop.wait()
        if not self._stopping:
            self._stop(ExitReason.STOPPED)
        log.info("drain_started", running=self.stats.running, drain_s=self._settings.drain_s)
        self._progress()
        with anyio.move_on_after(self._settings.drain_s):
            await force.wait()
        log.info("evaluations_cancelled", running=self.stats.running)
        self.stats.phase = "cancelling"
        self._evaluations.cancel_all()
        self._progress()

    def _stop(self, reason: ExitReason) -> None:
        self._stopping = True
        self._reason = reason
        # A stop drains; the breaker and a broken worker cancel what runs at once.
        self.stats.phase = "draining" if reason is ExitReason.STOPPED else "cancelling"

    # -- one slot ---------------------------------------------------------------------
    def _next_job(self) -> Job:
        """Decide (no await): an adopted suggestion, a new one (budget reserved), or stop."""
        if self._stopping:
            return None
        if self._resume.adopted:
            return self._resume.adopted.popleft()
        return "new" if self.ledger.reserve() else None

    async def _slot(self, slot: int) -> None:
        with structlog.contextvars.bound_contextvars(experiment_id=self._eid, worker=slot):
            job = self._next_job()
            done: Done | None = None
            while job is not None or done is not None:
                # The GPUs and cores are taken before the suggestion is asked for (alone,
                # or with the last report), so its metadata says what its evaluation
                # holds; they go back once the evaluation ended, however it ended. A slot
                # never waits here: the pool has a set for each slot.
                async with self._resources.hold() as held:
                    if done is not None:
                        job = await self._report_done(slot, done, held)
                        done = None
                    if isinstance(job, str):  # "new"
                        job = await self._new(slot, held)
                    if job is None:
                        return
                    suggestion = job
                    with structlog.contextvars.bound_contextvars(suggestion_id=suggestion.id):
                        finished = await self._run_suggestion(suggestion, slot, held)
                if finished is None:
                    job = self._next_job()
                else:
                    job, done = None, (suggestion, finished)

    async def _report_done(self, slot: int, done: Done, held: Resources) -> Job:
        """Report a finished evaluation; the slot's next job, for which `held` is taken."""
        suggestion, finished = done
        with structlog.contextvars.bound_contextvars(suggestion_id=suggestion.id):
            # Reported before (or, in one request, together with) asking the next
            # suggestion: the service never holds more than N open suggestions of this
            # run, and the next one already knows this outcome.
            job = await self._report(slot, suggestion, finished, held)
            await self._record(suggestion, finished)
        if isinstance(job, Suggestion):
            # Made with (or right after) the report. An adopted one passes through:
            # `_next_job` hands those out only while not stopping.
            return await self._take_prefetched(job)
        return job

    async def _new(
        self,
        slot: int,
        held: Resources = NO_RESOURCES,
        *,
        request_key: str | None = None,
        maybe_created: bool = False,
    ) -> Suggestion | None:
        """A new suggestion for a budget slot `_next_job` already reserved; None when the
        service says other runs on this experiment have taken the rest of the budget.
        `request_key`/`maybe_created`: see `ServiceClient.suggest`."""
        try:
            suggestion = await self._client.suggest(
                self._eid,
                metadata=self._base_metadata(slot, held),
                within_budget=True,
                request_key=request_key,
                maybe_created=maybe_created,
            )
        except BudgetExhausted:
            self._budget_taken()
            return None
        except BaseException:
            self.ledger.release()
            raise
        return self.ledger.priced(suggestion)

    def _budget_taken(self) -> None:
        """The service refused a reserved slot: other runs on this experiment took it."""
        self.ledger.refused()
        log.info("budget_taken_by_other_runs")

    def _base_metadata(self, slot: int, held: Resources = NO_RESOURCES) -> Metadata:
        return owner_metadata(self._settings.run_id, self._settings.host, slot, held)

    async def _run_suggestion(
        self, suggestion: Suggestion, slot: int, held: Resources
    ) -> Finished | None:
        """Evaluate, re-running after infrastructure faults; None if nothing is to report."""
        attempt = 0
        while True:
            attempt += 1
            started = self._clock()
            result: Outcome | BrokenWorker | Stopped = (
                STOPPED
                if self._stopping
                else await self._evaluations.evaluate(
                    suggestion, attempt, slot=slot, resources=held
                )
            )
            duration = self._clock() - started
            if isinstance(result, Stopped):
                await self._abandon(suggestion)
                return None
            if not isinstance(result, BrokenWorker):
                folder = self._evaluations.folder(suggestion, attempt)
                return Finished(self._matched(result), attempt, duration, folder, held)
            self.stats.infrastructure_errors += 1
            log.warning("worker_broken", attempt=attempt, error=str(result)[:300])
            if attempt <= self._settings.max_retries and not self._stopping:
                continue
            if self._stopping and self._reason is ExitReason.STOPPED:
                await self._abandon(suggestion)
                return None
            await self._resume.delete(suggestion, "worker_broken")
            if attempt > self._settings.max_retries and not self._stopping:
                self._stop(ExitReason.BROKEN_WORKER)
                self._evaluations.cancel_all()
            return None

    async def _take_prefetched(self, suggestion: Suggestion) -> Suggestion | None:
        """The suggestion that came with the last report, unless the run stopped while it
        was on its way: never started, it is deleted rather than left open."""
        if not self._stopping:
            return suggestion
        await self._resume.delete(suggestion, "not_started")
        return None

    async def _abandon(self, suggestion: Suggestion) -> None:
        """A cancelled evaluation: no parameter failure, so never reported `failed`."""
        if self._settings.on_stop == "delete" or self._reason is not ExitReason.STOPPED:
            await self._resume.delete(suggestion, "stopped")
        else:
            self._resume.leave_open(suggestion)

    # -- reporting --------------------------------------------------------------------
    async def _report(
        self, slot: int, suggestion: Suggestion, finished: Finished, held: Resources
    ) -> Job:
        """Report the outcome; the slot's next job (see `_next_job`), which is the next
        suggestion itself when it came in the same request (`held`: what its evaluation
        will hold)."""
        outcome = finished.outcome
        report = make_report(suggestion, outcome, finished, self._base_metadata(slot))
        # Decided before the await, as `_next_job` does: "new" reserves the next slot. Only
        # a new suggestion can come with the report (an adopted one is already open).
        trips = isinstance(outcome, Failed) and self._settings.failures.is_tripped_by(
            self.stats, one_more_failure=True
        )
        asks = not (self._stopping or self._resume.adopted or trips)
        if not asks or self._next_job() is None:
            self._settle(await self._reporter.send(report), suggestion, finished)
            return self._next_job()
        try:
            reported = await self._reporter.send_and_ask(report, self._base_metadata(slot, held))
        except BaseException:
            self.ledger.release()  # the reserved slot was not used
            raise
        self._settle(reported.observation is not None, suggestion, finished)
        following = reported.next
        if isinstance(following, Suggestion):
            return self.ledger.priced(following)
        if following is None:
            self._budget_taken()
            return None
        if self._stopping:  # a stop meanwhile: the slot reserved before the report is free
            self.ledger.release()
            return None
        # Not made with the report: ask for it with the report's key, which finds a
        # suggestion the combined request may have made instead of making a second.
        return await self._new(
            slot, held, request_key=following.request_key, maybe_created=following.maybe_created
        )

    def _matched(self, outcome: Outcome) -> Outcome:
        """The outcome with its values named after the experiment's metrics."""
        assert self._experiment is not None
        return match_metrics(outcome, [m.name for m in self._experiment.metrics])

    async def _record(self, suggestion: Suggestion, finished: Finished) -> None:
        """`outcome.json` in the evaluation's folder, after the report (never delays it)."""
        if finished.folder is not None:
            record = outcome_record(
                suggestion.id, finished.attempt, finished.outcome, finished.duration_s
            )
            await write_outcome(finished.folder, record)

    def _settle(self, stored: bool, suggestion: Suggestion, finished: Finished) -> None:
        if not stored:
            self.ledger.release(cost_of(suggestion))  # nothing stored: the slot is free again
            return
        self.ledger.commit(cost_of(suggestion))
        assert self._experiment is not None
        outcome = finished.outcome
        count_stored(self.stats, suggestion, outcome, self._experiment, finished.folder)
        if isinstance(outcome, Failed):
            log.info(
                "evaluation_failed",
                reason=outcome.reason,
                message=outcome.details.get("message"),
                folder=None if finished.folder is None else str(finished.folder),
            )
        self._progress()
        stats = self.stats
        if not self._stopping and self._settings.failures.is_tripped_by(stats):
            log.error(
                "failure_limit_reached",
                failed=stats.failed,
                finished=stats.finished,
                consecutive=stats.consecutive_failures,
            )
            self._stop(ExitReason.FAILURE_LIMIT)
            self._evaluations.cancel_all()

    def _progress(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.stats)
