"""This run's own open suggestions: adopted at the start (after replaying the journal),
deleted or left open at the end, and swept so the run leaves nothing of its own open that
it should not.

A suggestion is the run's own when its metadata carries the run's id (`RUN_ID_KEY`): a
restarted run adopts what it left open, and deletes the orphans of suggest requests that
reached the service after the client gave up on them.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import anyio
import structlog

from orchestrator.client import ServiceClient
from orchestrator.coordinator._ledger import BudgetLedger
from orchestrator.coordinator._model import RUN_ID_KEY
from orchestrator.coordinator._reporting import Report, Reporter
from orchestrator.coordinator._stats import RunStats
from orchestrator.journal import ReportJournal
from sigopt_service.models import Experiment, Suggestion

log = structlog.get_logger()

#: How long one shielded deletion may take during shutdown.
DELETE_TIMEOUT_S = 30.0


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
        observed = experiment.progress.observation_count if experiment.progress else 0
        open_now = await self._client.open_suggestions(self._eid)
        mine = [s for s in open_now if self.is_mine(s)]
        if fresh:
            for s in mine:
                await self._client.delete_suggestion(self._eid, s.id)
            log.info("leftovers_deleted", experiment_id=self._eid, count=len(mine))
            open_now = [s for s in open_now if s not in mine]
            mine = []
        foreign = len(open_now) - len(mine)
        unsent = sorted(await self._replay_journal(mine), key=lambda s: int(s.id))
        replayed = len(mine) - len(unsent)
        self._stats.observed_at_start += replayed
        self._stats.replayed = replayed
        # Never adopt past the budget: a suggest that reached the service after the client
        # gave up on it leaves one more open suggestion than the run had reserved.
        room = max(0, budget - (observed + replayed) - foreign)
        for excess in unsent[room:]:
            await self._client.delete_suggestion(self._eid, excess.id)
            log.info("excess_suggestion_deleted", suggestion_id=excess.id)
        self.adopted.extend(unsent[:room])
        self._stats.adopted = len(self.adopted)
        # Every open suggestion counts: ours are adopted, others' belong to other runs.
        self._ledger.start(
            budget, observed=observed + replayed, foreign=foreign, adopted=len(self.adopted)
        )
        return foreign

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
            self._ledger.release()
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
