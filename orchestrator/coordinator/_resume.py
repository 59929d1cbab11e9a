"""This run's own open suggestions: adopted at the start (after replaying the journal),
deleted or left open at the end, and swept so the run leaves nothing of its own open that
it should not.

A suggestion is the run's own when its metadata carries the run's id (`RUN_ID_KEY`): a
restarted run adopts what it left open, and deletes the orphans of suggest requests that
reached the service after the client gave up on them.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Literal

import anyio
import structlog

from orchestrator.client import ServiceClient
from orchestrator.coordinator._ledger import BudgetLedger, cost_of, task_cost
from orchestrator.coordinator._model import RUN_ID_KEY
from orchestrator.coordinator._reporting import Report, Reporter
from orchestrator.coordinator._stats import RunStats
from orchestrator.journal import ReportJournal
from sigopt_service.models import Experiment, Suggestion

log = structlog.get_logger()

#: How long one shielded deletion may take during shutdown.
DELETE_TIMEOUT_S = 30.0


def _consumed(experiment: Experiment) -> Decimal:
    """What the experiment's observations consumed of its budget, as its `progress` says
    (the sum of their task costs in a multitask experiment, their count otherwise)."""
    progress = experiment.progress
    if progress is None:
        return Decimal(0)
    if experiment.tasks:
        return Decimal(repr(float(progress.observation_budget_consumed)))
    return Decimal(progress.observation_count)


class Resume:
    """Adopts, deletes and sweeps the run's own suggestions; keeps the ledger in step.

    `adopted` is the queue the slots take from before asking for new suggestions;
    `left_open` names the suggestions the run leaves open for the next one.
    """

    def __init__(
        self,
        client: ServiceClient,
        experiment_id: str,
        *,
        run_id: str,
        ledger: BudgetLedger,
        stats: RunStats,
        reporter: Reporter,
        journal: ReportJournal | None = None,
    ) -> None:
        self._client = client
        self._eid = experiment_id
        self._run_id = run_id
        self._ledger = ledger
        self._stats = stats
        self._reporter = reporter
        self._journal = journal
        self.adopted: deque[Suggestion] = deque()
        self.left_open: list[str] = []

    def is_mine(self, suggestion: Suggestion) -> bool:
        return (suggestion.metadata or {}).get(RUN_ID_KEY) == self._run_id

    async def adopt(self, experiment: Experiment, *, fresh: bool) -> int:
        """Queue this run's open suggestions (deleted instead when `fresh`), report what
        the journal holds for them, and start the ledger; returns other runs' open count."""
        assert experiment.observation_budget is not None
        budget = experiment.observation_budget
        observed = _consumed(experiment)
        open_now = await self._client.open_suggestions(self._eid)
        mine = [s for s in open_now if self.is_mine(s)]
        if fresh:
            for s in mine:
                await self._client.delete_suggestion(self._eid, s.id)
            log.info("leftovers_deleted", experiment_id=self._eid, count=len(mine))
            open_now = [s for s in open_now if s not in mine]
            mine = []
        foreign = sum((cost_of(s) for s in open_now if s not in mine), Decimal(0))
        unsent = sorted(await self._replay_journal(mine), key=lambda s: int(s.id))
        replayed = [s for s in mine if s not in unsent]
        observed += sum((cost_of(s) for s in replayed), Decimal(0))
        self._stats.observed_at_start += len(replayed)
        self._stats.replayed = len(replayed)
        # Never adopt past the budget: a suggest that reached the service after the client
        # gave up on it leaves one more open suggestion than the run had reserved. As the
        # service grants suggestions: each while less than the budget is held before it.
        room, held = budget - observed - foreign, Decimal(0)
        for s in unsent:
            if held < room:
                self.adopted.append(s)
                held += cost_of(s)
                continue
            await self._client.delete_suggestion(self._eid, s.id)
            log.info("excess_suggestion_deleted", suggestion_id=s.id)
        self._stats.adopted = len(self.adopted)
        # Every open suggestion counts: ours are adopted, others' belong to other runs.
        cheapest = min((task_cost(t) for t in experiment.tasks or ()), default=Decimal(1))
        self._ledger.start(
            budget, observed=observed, foreign=foreign, adopted=held, cheapest=cheapest
        )
        if experiment.tasks:  # the budget goes in cost: the display reads the ledger
            self._stats.ledger, self._stats.consumed_at_start = self._ledger, observed
        return len(open_now) - len(mine)

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
            stored = await self._reporter.send(
                Report(s, entry.values, entry.failed, entry.metadata)
            )
            await self._journal.done(s.id)
            if not stored:
                # Refused (the values no longer fit the experiment): evaluate it afresh.
                rest.append(s)
                continue
            log.info("journal_replayed", suggestion_id=s.id)
        return rest

    async def delete(self, suggestion: Suggestion, why: str) -> None:
        """Delete one of the run's suggestions and free its budget slot."""
        # Shielded and bounded: the deletion must happen even while the run is cancelled.
        with anyio.CancelScope(shield=True), anyio.move_on_after(DELETE_TIMEOUT_S):
            await self._client.delete_suggestion(self._eid, suggestion.id)
            self._ledger.release(cost_of(suggestion))
            log.info("suggestion_deleted", why=why)

    def leave_open(self, suggestion: Suggestion) -> None:
        self.left_open.append(suggestion.id)
        log.info("suggestion_left_open")

    async def sweep(self, *, ends_for_good: bool, on_stop: Literal["leave_open", "delete"]) -> None:
        """At the end of the run: leave the adopted suggestions it never got to open (a
        stop with `leave_open`), or delete them, plus, when the run ends for good, any
        orphan of a suggest request that reached the service after the client gave up."""
        if not ends_for_good and on_stop == "leave_open":
            self.left_open.extend(s.id for s in self.adopted)
            return
        leftovers = list(self.adopted)
        self.adopted.clear()
        if ends_for_good:
            in_queue = {s.id for s in leftovers}
            leftovers += [
                s
                for s in await self._client.open_suggestions(self._eid)
                if s.id not in in_queue and self.is_mine(s)
            ]
        for suggestion in leftovers:
            await self.delete(suggestion, "run_ended")
