"""`ServiceClient`: SigOpt REST API v1 calls, with exactly-once `suggest` and `observe`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import structlog

from orchestrator.client._bodies import (
    NEXT_SUGGESTION,
    REQUEST_KEY,
    AskNext,
    Reported,
    combined_answer,
    is_bare_refusal,
    observation_body,
    refuses_next_suggestion,
)
from orchestrator.client._failover import Endpoints
from orchestrator.client._lookups import existing_observation, find_by_request_key
from orchestrator.client._queued import queue_all
from orchestrator.client._requests import Requests, parse
from orchestrator.client._retry import DEFAULT_RETRY, RetryPolicy, retrying
from orchestrator.client._runs import TrainingRuns
from orchestrator.client._url import base_urls
from orchestrator.errors import BudgetExhausted, ServiceRejected, TransientServiceError
from orchestrator.transport import AiohttpTransport, Transport, TransportResponse
from sigopt_service.models import (
    BestAssignments,
    Experiment,
    MetricEvaluation,
    Observation,
    QueuedSuggestion,
    Suggestion,
)

log = structlog.get_logger()


class ServiceClient:
    """Async SigOpt REST API v1 client. Ids are strings, as on the wire. Given several
    URLs, it fails over from one to the next on a connection error or a 5xx (`_failover.py`).

    Every method retries transient failures per `retry` and raises the last
    `TransientServiceError` when retries run out, `ServiceRejected` when the service
    refuses, or `ServiceError` for an answer that does not parse. Returned models are
    frozen snapshots owned by the caller. Safe to cancel at every await; a cancelled call
    leaves the client usable.
    """

    def __init__(
        self,
        base_url: str | Sequence[str],
        *,
        token: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        connect_timeout_s: float = 10.0,
        request_timeout_s: float = 60.0,
        transport: Transport | Sequence[Transport] | None = None,
    ) -> None:
        # Several URLs (a sequence, or one comma-separated string) are one service's
        # processes, tried in order on failure (`_failover.py`). `http://host/`,
        # `http://host/v1` and `http://host` all name the same service.
        urls = base_urls(base_url)
        # An injected transport (one per URL) belongs to the caller, who closes it.
        self._owned: list[AiohttpTransport] = []
        if transport is None:
            self._owned = [
                AiohttpTransport(
                    url,
                    token=token,
                    connect_timeout_s=connect_timeout_s,
                    request_timeout_s=request_timeout_s,
                )
                for url in urls
            ]
            transports: Sequence[Transport] = self._owned
        else:
            transports = list(transport) if isinstance(transport, Sequence) else [transport]
        self._requests = Requests(Endpoints.of(urls, transports), retry)
        #: SigOpt training runs (a command's view of its suggestion; `_runs.py`).
        self.runs = TrainingRuns(self._requests)
        # Whether the service answers `next_suggestion` (ours does); learnt on first use.
        self._offers_next_suggestion = True

    @property
    def retry(self) -> RetryPolicy:
        return self._requests.policy

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        self._requests.policy = policy

    @property
    def base_url(self) -> str:
        """The URL requests go to now: the first one given, until it fails (then the next)."""
        return self._requests.endpoints.current.url

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every URL given, in the order they are tried."""
        return tuple(endpoint.url for endpoint in self._requests.endpoints.all)

    def __repr__(self) -> str:
        return f"ServiceClient({self.base_url!r}, transport={self._requests.transport!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for transport in self._owned:
            await transport.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> TransportResponse:
        """A raw request, retried (for tests and tools that need an endpoint not wrapped)."""
        return await self._requests.call(method, path, params=params, json=json)

    # -- experiments ---------------------------------------------------------------------

    async def create_experiment(self, body: Mapping[str, Any]) -> Experiment:
        # Not exactly-once: a retried create after an ambiguous failure may leave a second,
        # unused experiment behind, which costs nothing but a row.
        response = await self._requests.call("POST", "/experiments", json=dict(body))
        return parse(Experiment, response, "POST", "/experiments")

    async def get_experiment(self, experiment_id: str) -> Experiment:
        path = f"/experiments/{experiment_id}"
        return parse(Experiment, await self._requests.call("GET", path), "GET", path)

    async def update_experiment(self, experiment_id: str, body: Mapping[str, Any]) -> Experiment:
        # PUT is idempotent, so a plain retry is safe.
        path = f"/experiments/{experiment_id}"
        response = await self._requests.call("PUT", path, json=dict(body))
        return parse(Experiment, response, "PUT", path)

    async def queue_suggestions(
        self, experiment_id: str, entries: Sequence[Mapping[str, Any]]
    ) -> list[QueuedSuggestion]:
        """Queue assignments (`POST .../queued_suggestions`), in order, each exactly once:
        the experiment's next suggestions serve them first. Only for an experiment nothing
        else queues on or asks suggestions of meanwhile (one this run just created): an
        attempt that may have landed is recognised by the queue's length."""
        return await queue_all(self._requests, self.retry, experiment_id, entries)

    async def best_assignments(self, experiment_id: str) -> list[BestAssignments]:
        path = f"/experiments/{experiment_id}/best_assignments"
        return [b async for b in self._requests.iter_pages(BestAssignments, path, {})]

    # -- suggestions ---------------------------------------------------------------------

    async def suggest(
        self,
        experiment_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        within_budget: bool = False,
        request_key: str | None = None,
        maybe_created: bool = False,
    ) -> Suggestion:
        """Create one suggestion, exactly once even when attempts fail ambiguously.

        The metadata gets a fresh `request_key` (or the given one, with `maybe_created=True`
        when an earlier request carrying it may have created the suggestion: it is then
        looked for before anything is sent). Once an attempt has failed in a way the
        service may have acted on (timeout, disconnect, 5xx), every later attempt first
        lists the open suggestions and adopts the one carrying that key instead of
        creating another. If retries run out (or the call is cancelled) after such a
        failure, the final error has `ambiguous=True`: an open suggestion carrying the
        caller's metadata may remain, for the coordinator to adopt or delete.

        `within_budget=True` asks the service to refuse (409, `BudgetExhausted`) once
        observations plus open suggestions reach the experiment's budget, checked
        atomically: this is how several coordinators on one experiment stop exactly at it.
        A service that does not know the parameter ignores it.
        """
        path = f"/experiments/{experiment_id}/suggestions"
        key = request_key or uuid.uuid4().hex
        body = {"metadata": {**(metadata or {}), REQUEST_KEY: key}}
        params = {"within_budget": "true"} if within_budget else None

        async def attempt() -> Suggestion:
            nonlocal maybe_created
            try:
                if maybe_created:
                    adopted = await find_by_request_key(self._requests, experiment_id, key)
                    if adopted is not None:
                        return adopted
                response = await self._requests.send("POST", path, params=params, json=body)
            except ServiceRejected as exc:
                # A 409 to a within-budget ask is the budget, whatever code (if any) the
                # server gives it.
                if within_budget and exc.status == 409:
                    raise BudgetExhausted(
                        409, exc.message, method="POST", path=path, code=exc.code, field=exc.field
                    ) from exc
                raise
            except TransientServiceError as exc:
                # Sticky: an earlier attempt may have created it even if this one did not,
                # and the error that finally escapes tells the caller so.
                maybe_created = maybe_created or exc.ambiguous
                exc.ambiguous = maybe_created
                raise
            return parse(Suggestion, response, "POST", path)

        return await retrying(self.retry, "POST", path, attempt)

    async def create_suggestion(
        self,
        experiment_id: str,
        assignments: Mapping[str, Any],
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> Suggestion:
        """An open suggestion with the caller's own assignments (SigOpt's user-created
        suggestion). Sent once, never retried: a blind re-send could create two."""
        path = f"/experiments/{experiment_id}/suggestions"
        body = {"assignments": dict(assignments), "metadata": dict(metadata or {})}
        response = await self._requests.send("POST", path, json=body)
        return parse(Suggestion, response, "POST", path)

    async def get_suggestion(self, experiment_id: str, suggestion_id: str) -> Suggestion:
        path = f"/experiments/{experiment_id}/suggestions/{suggestion_id}"
        return parse(Suggestion, await self._requests.call("GET", path), "GET", path)

    async def open_suggestions(self, experiment_id: str) -> list[Suggestion]:
        """Every open, non-deleted suggestion, newest first (all pages)."""
        path = f"/experiments/{experiment_id}/suggestions"
        return [s async for s in self._requests.iter_pages(Suggestion, path, {"state": "open"})]

    async def suggestions(self, experiment_id: str) -> list[Suggestion]:
        """Every non-deleted suggestion, open and closed, newest first (all pages)."""
        path = f"/experiments/{experiment_id}/suggestions"
        return [s async for s in self._requests.iter_pages(Suggestion, path, {})]

    async def delete_suggestion(self, experiment_id: str, suggestion_id: str) -> None:
        """Delete one suggestion; one that is already gone (404) counts as deleted."""
        path = f"/experiments/{experiment_id}/suggestions/{suggestion_id}"
        try:
            await self._requests.call("DELETE", path)
        except ServiceRejected as exc:
            if exc.status != 404:
                raise

    async def delete_open_suggestions(self, experiment_id: str) -> None:
        path = f"/experiments/{experiment_id}/suggestions"
        await self._requests.call("DELETE", path, params={"state": "open"})

    # -- observations --------------------------------------------------------------------

    async def observe(
        self,
        experiment_id: str,
        suggestion_id: str,
        *,
        values: Sequence[MetricEvaluation] | None = None,
        failed: bool = False,
        metadata: Mapping[str, Any] | None = None,
        maybe_sent: bool = False,
    ) -> Observation:
        """Report the suggestion's result, exactly once even when attempts fail ambiguously.

        Once an attempt has failed in a way the service may have acted on, every later
        attempt first GETs the suggestion: if it is closed, the observation that closed it
        (found by paging newest-first) is returned and nothing is sent again. A suggestion
        that is closed but has no observation left (it was deleted) raises
        `ServiceRejected(409)` rather than risk a duplicate. A deleted suggestion surfaces
        as the service's `ServiceRejected(400, "No suggestion ...")`.

        Pass `maybe_sent=True` when an earlier call for this suggestion may have landed:
        it was cancelled mid-request, or it raised a `TransientServiceError` whose
        `ambiguous` is True (that flag covers every attempt of the call, not just the last).
        The check then runs before the first send too.
        """
        path = f"/experiments/{experiment_id}/observations"
        body = observation_body(suggestion_id, values, failed, metadata)
        maybe_observed = maybe_sent

        async def attempt() -> Observation:
            nonlocal maybe_observed
            try:
                if maybe_observed:
                    existing = await existing_observation(
                        self._requests, experiment_id, suggestion_id
                    )
                    if existing is not None:
                        return existing
                response = await self._requests.send("POST", path, json=body)
            except ServiceRejected as exc:
                if exc.status != 409:
                    raise
                # Our service refuses a second observation of a closed suggestion: a request
                # of ours got there first (late, after a timeout, or after our check).
                existing = await existing_observation(self._requests, experiment_id, suggestion_id)
                if existing is not None:
                    return existing
                raise
            except TransientServiceError as exc:
                maybe_observed = maybe_observed or exc.ambiguous
                exc.ambiguous = maybe_observed
                raise
            return parse(Observation, response, "POST", path)

        return await retrying(self.retry, "POST", path, attempt)

    async def report_and_ask(
        self,
        experiment_id: str,
        suggestion_id: str,
        *,
        values: Sequence[MetricEvaluation] | None = None,
        failed: bool = False,
        metadata: Mapping[str, Any] | None = None,
        next_metadata: Mapping[str, Any] | None = None,
        within_budget: bool = False,
    ) -> Reported:
        """`observe` and, in the same request when the service offers it (ours:
        `next_suggestion` on `POST .../observations`), the next suggestion. When that did
        not come with the report, `next` is `AskNext`: ask with `suggest(request_key=...,
        maybe_created=...)`, which finds a suggestion the attempt may have made instead of
        making a second. `next` is None when `within_budget` found the budget full.

        One combined attempt is sent. If it fails (a timeout, a refusal, a service without
        the extension, learnt once), the report falls back to `observe`, told whether the
        attempt may have landed. Raises only what `observe` raises, except a refusal of
        the report, which is returned (`observation` None, `refused`): whatever is raised
        means the report may not be stored.
        """
        path = f"/experiments/{experiment_id}/observations"
        key = uuid.uuid4().hex
        maybe_landed = False
        bare_refusal = False
        if self._offers_next_suggestion:
            body = {
                **observation_body(suggestion_id, values, failed, metadata),
                NEXT_SUGGESTION: {"metadata": {**(next_metadata or {}), REQUEST_KEY: key}},
            }
            params = {"within_budget": "true"} if within_budget else None
            try:
                response = await self._requests.send("POST", path, params=params, json=body)
            except TransientServiceError as exc:
                maybe_landed = exc.ambiguous
            except ServiceRejected as exc:
                # A 4xx is refused before anything is stored; a 5xx may come after the work.
                maybe_landed = exc.status >= 500
                if refuses_next_suggestion(exc):
                    self._no_next_suggestion(experiment_id)
                bare_refusal = is_bare_refusal(exc)
            else:
                reported, offered = combined_answer(response, path, key, within_budget)
                if not offered:
                    self._no_next_suggestion(experiment_id)  # it stored the observation only
                return reported
        try:
            observation = await self.observe(
                experiment_id,
                suggestion_id,
                values=values,
                failed=failed,
                metadata=metadata,
                maybe_sent=maybe_landed,
            )
        except ServiceRejected as exc:
            return Reported(None, AskNext(key, maybe_landed), refused=exc)
        if bare_refusal:
            # The same report alone was stored: what the server refused was the extension.
            self._no_next_suggestion(experiment_id)
        return Reported(observation, AskNext(key, maybe_landed))

    def _no_next_suggestion(self, experiment_id: str) -> None:
        self._offers_next_suggestion = False
        log.info("next_suggestion_not_offered", experiment_id=experiment_id)

    async def observations(self, experiment_id: str) -> list[Observation]:
        """Every observation of the experiment, newest first (all pages)."""
        path = f"/experiments/{experiment_id}/observations"
        return [o async for o in self._requests.iter_pages(Observation, path, {})]
