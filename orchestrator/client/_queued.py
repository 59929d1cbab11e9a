"""Queueing a new experiment's first assignments (the config's `experiment.queued`),
each exactly once even when attempts fail ambiguously.

A blind re-send after a timeout could queue an entry twice, and the run would evaluate
it twice. The entries go to an experiment nothing else queues on or asks suggestions of
yet (the run has just created it), so the queue's length tells how many landed. What
this cannot see is an attempt that reaches the service only after its retry has looked
(a request stuck longer than the request timeout): that entry is queued twice and
evaluated twice, within the budget. Queued suggestions carry no metadata that could
mark them, unlike the suggestions `suggest` finds again by their request key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from orchestrator.client._requests import Requests, parse
from orchestrator.client._retry import RetryPolicy, retrying
from orchestrator.errors import TransientServiceError
from sigopt_service.models import QueuedSuggestion

log = structlog.get_logger()


async def queue_all(
    requests: Requests,
    policy: RetryPolicy,
    experiment_id: str,
    entries: Sequence[Mapping[str, Any]],
) -> list[QueuedSuggestion]:
    """Queue each of `entries` (assignments) in order; the queued suggestions, oldest first."""
    queued: list[QueuedSuggestion] = []
    for assignments in entries:
        queued.append(await _queue_one(requests, policy, experiment_id, assignments, len(queued)))
    return queued


async def _queue_one(
    requests: Requests,
    policy: RetryPolicy,
    experiment_id: str,
    assignments: Mapping[str, Any],
    before: int,
) -> QueuedSuggestion:
    """Queue one entry after `before` others. Once an attempt failed in a way the service
    may have acted on, every later attempt first lists the queue: one entry more than
    `before` means that attempt landed, and the newest entry is it."""
    path = f"/experiments/{experiment_id}/queued_suggestions"
    body = {"assignments": dict(assignments)}
    maybe_queued = False

    async def attempt() -> QueuedSuggestion:
        nonlocal maybe_queued
        try:
            if maybe_queued:
                waiting = [
                    q async for q in requests.iter_pages(QueuedSuggestion, path, {}, retried=False)
                ]
                if len(waiting) > before:
                    log.info("queued_suggestion_adopted", experiment_id=experiment_id)
                    return waiting[0]  # newest first
            response = await requests.send("POST", path, json=body)
        except TransientServiceError as exc:
            # Sticky, as in `suggest`: an earlier attempt may have landed even if this did not.
            maybe_queued = maybe_queued or exc.ambiguous
            exc.ambiguous = maybe_queued
            raise
        return parse(QueuedSuggestion, response, "POST", path)

    return await retrying(policy, "POST", path, attempt)
