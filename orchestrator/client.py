"""The client's upper layer: SigOpt REST API v1 calls, retries and exactly-once writes.

`ServiceClient` speaks SigOpt and returns `sigopt_service.models` objects; a `Transport` below it
moves bytes (see `orchestrator.transport`). Statuses are mapped here, once:

| status                                        | outcome                                    |
|-----------------------------------------------|--------------------------------------------|
| 2xx                                           | parsed into the wire model                 |
| 429 (honours `Retry-After`), 502, 503, 504    | `TransientServiceError`, retried           |
| 500                                           | transient when `retry_server_errors`       |
| any other                                     | `ServiceRejected(status, body["message"])` |

Retries use tenacity: exponential backoff with full jitter, bounded by attempts and by total
time (`RetryPolicy`). SigOpt-compatible servers accept two observations for one suggestion
and create a suggestion on every POST, so a blind re-send of `observe` or `suggest` after an
ambiguous failure (the service may have acted) would duplicate it. Both therefore check
what the service already did before sending again; see their docstrings.

Usage sketch:
```python
async with ServiceClient("http://127.0.0.1:8080", token="T") as client:
    suggestion = await client.suggest(experiment_id, metadata={"run": run_id})
    await client.observe(experiment_id, suggestion.id, values=[MetricEvaluation(value=0.9)])
```
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NoReturn, Self, TypeVar

import anyio
import structlog
from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from orchestrator.errors import (
    BudgetExhausted,
    ServiceError,
    ServiceRejected,
    TransientServiceError,
)
from orchestrator.transport import AiohttpTransport, Transport, TransportResponse
from sigopt_service.models import (
    BestAssignments,
    Experiment,
    MetricEvaluation,
    Observation,
    Pagination,
    Suggestion,
    SuggestionState,
    WireModel,
)

__all__ = [
    "REQUEST_KEY",
    "AskNext",
    "Reported",
    "RetryPolicy",
    "ServiceClient",
]

log = structlog.get_logger()

#: The suggestion metadata key that makes a retried `suggest` recognisable.
REQUEST_KEY = "request_key"

_M = TypeVar("_M", bound=WireModel)
_T = TypeVar("_T")

_ALWAYS_TRANSIENT = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How `ServiceClient` retries `TransientServiceError`.

    The n-th wait is uniform in `[0, min(max_backoff_s, initial_backoff_s * 2**(n-1))]` (full
    jitter), at least the service's `Retry-After` on a 429. Retrying stops after
    `max_attempts` attempts, or when the next wait would end past `max_total_s` since the
    first attempt; the last error is then raised. `retry_server_errors=False` turns 500
    into a `ServiceRejected` (502/503/504 stay transient: they come from proxies).
    """

    max_attempts: int = 8
    # Long enough to ride out a restart of the service (our crash tests restart it on
    # its database in a few seconds; a remote one behind a deploy can take a minute).
    max_total_s: float = 120.0
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 10.0
    retry_server_errors: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if self.max_total_s < 0 or self.initial_backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError(
                "RetryPolicy.max_total_s, initial_backoff_s and max_backoff_s must be >= 0"
            )


class ServiceClient:
    """Async SigOpt REST API v1 client. Ids are strings, as on the wire.

    Every method retries transient failures per `retry` and raises the last
    `TransientServiceError` when retries run out, `ServiceRejected` when the service
    refuses, or `ServiceError` for an answer that does not parse. Returned models are
    frozen snapshots owned by the caller. Safe to cancel at every await; a cancelled call
    leaves the client usable.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        retry: RetryPolicy = RetryPolicy(),  # frozen, so one shared default is safe
        connect_timeout_s: float = 10.0,
        request_timeout_s: float = 60.0,
        transport: Transport | None = None,
    ) -> None:
        self.base_url = base_url
        self.retry = retry
        # An injected transport belongs to the caller, who closes it.
        self._owned: AiohttpTransport | None = None
        if transport is None:
            self._owned = AiohttpTransport(
                base_url,
                token=token,
                connect_timeout_s=connect_timeout_s,
                request_timeout_s=request_timeout_s,
            )
            transport = self._owned
        self._transport: Transport = transport
        # Whether the service answers `next_suggestion` (ours does); learnt on first use.
        self._offers_next_suggestion = True

    def __repr__(self) -> str:
        return f"ServiceClient({self.base_url!r}, transport={self._transport!r})"

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
        if self._owned is not None:
            await self._owned.aclose()

    # -- experiments ---------------------------------------------------------------------

    async def create_experiment(self, body: Mapping[str, Any]) -> Experiment:
        # Not exactly-once: a retried create after an ambiguous failure may leave a second,
        # unused experiment behind, which costs nothing but a row.
        response = await self._call("POST", "/experiments", json=dict(body))
        return self._parse(Experiment, response, "POST", "/experiments")

    async def get_experiment(self, experiment_id: str) -> Experiment:
        path = f"/experiments/{experiment_id}"
        return self._parse(Experiment, await self._call("GET", path), "GET", path)

    async def update_experiment(self, experiment_id: str, body: Mapping[str, Any]) -> Experiment:
        # PUT is idempotent, so a plain retry is safe.
        path = f"/experiments/{experiment_id}"
        response = await self._call("PUT", path, json=dict(body))
        return self._parse(Experiment, response, "PUT", path)

    async def best_assignments(self, experiment_id: str) -> list[BestAssignments]:
        path = f"/experiments/{experiment_id}/best_assignments"
        return [b async for b in self._iter_pages(BestAssignments, path, {}, retried=True)]

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
                    adopted = await self._find_by_request_key(experiment_id, key)
                    if adopted is not None:
                        return adopted
                response = await self._send("POST", path, params=params, json=body)
            except ServiceRejected as exc:
                if within_budget and exc.status == 409:
                    raise BudgetExhausted(409, exc.message, method="POST", path=path) from exc
                raise
            except TransientServiceError as exc:
                # Sticky: an earlier attempt may have created it even if this one did not,
                # and the error that finally escapes tells the caller so.
                maybe_created = maybe_created or exc.ambiguous
                exc.ambiguous = maybe_created
                raise
            return self._parse(Suggestion, response, "POST", path)

        return await self._retrying("POST", path, attempt)

    async def _find_by_request_key(self, experiment_id: str, key: str) -> Suggestion | None:
        """The open suggestion an earlier attempt of `suggest` created, if any.

        Runs inside one attempt, so its requests are not retried on their own (nested
        retries would multiply the bounds); a failure here fails the attempt.
        """
        path = f"/experiments/{experiment_id}/suggestions"
        async for suggestion in self._iter_pages(
            Suggestion, path, {"state": "open"}, retried=False
        ):
            if suggestion.metadata and suggestion.metadata.get(REQUEST_KEY) == key:
                log.info(
                    "suggestion_adopted", experiment_id=experiment_id, suggestion_id=suggestion.id
                )
                return suggestion
        return None

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
        return self._parse(Suggestion, await self._send("POST", path, json=body), "POST", path)

    async def get_suggestion(self, experiment_id: str, suggestion_id: str) -> Suggestion:
        path = f"/experiments/{experiment_id}/suggestions/{suggestion_id}"
        return self._parse(Suggestion, await self._call("GET", path), "GET", path)

    async def open_suggestions(self, experiment_id: str) -> list[Suggestion]:
        """Every open, non-deleted suggestion, newest first (all pages)."""
        path = f"/experiments/{experiment_id}/suggestions"
        return [s async for s in self._iter_pages(Suggestion, path, {"state": "open"})]

    async def delete_suggestion(self, experiment_id: str, suggestion_id: str) -> None:
        """Delete one suggestion; one that is already gone (404) counts as deleted."""
        path = f"/experiments/{experiment_id}/suggestions/{suggestion_id}"
        try:
            await self._call("DELETE", path)
        except ServiceRejected as exc:
            if exc.status != 404:
                raise

    async def delete_open_suggestions(self, experiment_id: str) -> None:
        path = f"/experiments/{experiment_id}/suggestions"
        await self._call("DELETE", path, params={"state": "open"})

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
        body = _observation_body(suggestion_id, values, failed, metadata)
        maybe_observed = maybe_sent

        async def attempt() -> Observation:
            nonlocal maybe_observed
            try:
                if maybe_observed:
                    existing = await self._existing_observation(experiment_id, suggestion_id)
                    if existing is not None:
                        return existing
                response = await self._send("POST", path, json=body)
            except ServiceRejected as exc:
                if exc.status != 409:
                    raise
                # Our service refuses a second observation of a closed suggestion: a request
                # of ours got there first (late, after a timeout, or after our check).
                existing = await self._existing_observation(experiment_id, suggestion_id)
                if existing is not None:
                    return existing
                raise
            except TransientServiceError as exc:
                maybe_observed = maybe_observed or exc.ambiguous
                exc.ambiguous = maybe_observed
                raise
            return self._parse(Observation, response, "POST", path)

        return await self._retrying("POST", path, attempt)

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
        if self._offers_next_suggestion:
            body = {
                **_observation_body(suggestion_id, values, failed, metadata),
                "next_suggestion": {"metadata": {**(next_metadata or {}), REQUEST_KEY: key}},
            }
            params = {"within_budget": "true"} if within_budget else None
            try:
                response = await self._send("POST", path, params=params, json=body)
            except TransientServiceError as exc:
                maybe_landed = exc.ambiguous
            except ServiceRejected as exc:
                # A 4xx is refused before anything is stored; a 5xx may come after the work.
                maybe_landed = exc.status >= 500
                if exc.status == 400 and "next_suggestion" in exc.message:
                    self._no_next_suggestion(experiment_id)
            else:
                return self._reported(experiment_id, response, path, key, within_budget)
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
        return Reported(observation, AskNext(key, maybe_landed))

    def _reported(
        self,
        experiment_id: str,
        response: TransportResponse,
        path: str,
        key: str,
        within_budget: bool,
    ) -> Reported:
        """A 2xx answer to the combined request: the observation is stored."""
        # The wire models ignore fields they do not know: next_suggestion is left out.
        observation = self._parse(Observation, response, "POST", path)
        body = response.body
        if not isinstance(body, dict) or "next_suggestion" not in body:
            self._no_next_suggestion(experiment_id)  # it stored the observation only
            return Reported(observation, AskNext(key, maybe_created=False))
        if body["next_suggestion"] is not None:
            raw = TransportResponse(response.status, body["next_suggestion"])
            return Reported(observation, self._parse(Suggestion, raw, "POST", path))
        if within_budget and _refused_status(body) == 409:
            return Reported(observation, None)
        # No suggestion for another reason (an engine error): asking again says why.
        return Reported(observation, AskNext(key, maybe_created=False))

    def _no_next_suggestion(self, experiment_id: str) -> None:
        self._offers_next_suggestion = False
        log.info("next_suggestion_not_offered", experiment_id=experiment_id)

    async def observations(self, experiment_id: str) -> list[Observation]:
        """Every observation of the experiment, newest first (all pages)."""
        path = f"/experiments/{experiment_id}/observations"
        return [o async for o in self._iter_pages(Observation, path, {})]

    async def _existing_observation(
        self, experiment_id: str, suggestion_id: str
    ) -> Observation | None:
        """The observation that closed the suggestion, or None while it is still open.

        Runs inside one attempt of `observe`, so its requests are not retried on their own
        (nested retries would multiply the bounds); a failure here fails the attempt.
        """
        path = f"/experiments/{experiment_id}/suggestions/{suggestion_id}"
        suggestion = self._parse(Suggestion, await self._send("GET", path), "GET", path)
        if suggestion.state is not SuggestionState.CLOSED:
            return None
        obs_path = f"/experiments/{experiment_id}/observations"
        async for observation in self._iter_pages(Observation, obs_path, {}, retried=False):
            if observation.suggestion == suggestion_id:
                log.info(
                    "observation_adopted",
                    experiment_id=experiment_id,
                    suggestion_id=suggestion_id,
                    observation_id=observation.id,
                )
                return observation
        raise ServiceRejected(
            409,
            f"suggestion {suggestion_id} is closed but none of its observations remain",
            method="POST",
            path=obs_path,
        )

    # -- plumbing ------------------------------------------------------------------------

    async def _iter_pages(
        self,
        model: type[_M],
        path: str,
        params: Mapping[str, str],
        *,
        retried: bool = True,
    ) -> AsyncIterator[_M]:
        """Items of a paginated list, following `paging.before` like the official client's
        `iterate_pages`: same params plus `before=<marker>` until the marker is null or a
        page is empty."""
        query = dict(params)
        while True:
            if retried:
                response = await self._call("GET", path, params=query)
            else:
                response = await self._send("GET", path, params=query)
            page = self._parse(Pagination[model], response, "GET", path)  # type: ignore[valid-type]
            for item in page.data:
                yield item
            if not page.data or page.paging.before is None:
                return
            query = {**params, "before": page.paging.before}

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> TransportResponse:
        """`_send` with retries: for requests that are safe to repeat as they are."""

        async def attempt() -> TransportResponse:
            return await self._send(method, path, params=params, json=json)

        return await self._retrying(method, path, attempt)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> TransportResponse:
        """One attempt: the transport's answer, or the error its status maps to."""
        response = await self._transport.request(method, path, params=params, json=json)
        status = response.status
        if 200 <= status < 300:
            return response
        message = _message(response)
        if status in _ALWAYS_TRANSIENT or (status == 500 and self.retry.retry_server_errors):
            _raise_transient(method, path, response, message)
        raise ServiceRejected(status, message, method=method, path=path)

    async def _retrying(self, method: str, path: str, attempt: Callable[[], Awaitable[_T]]) -> _T:
        # Fast path: most calls succeed at once, and building tenacity's machinery on every
        # call cost ~8% of the coordinator's overhead per evaluation (measured).
        try:
            return await attempt()
        except TransientServiceError as exc:
            first_failure = exc
        replayed = False

        async def replay_then_attempt() -> _T:
            # Tenacity sees the first failure as its attempt 1: same waits, same bounds.
            nonlocal replayed
            if not replayed:
                replayed = True
                raise first_failure
            return await attempt()

        return await self._retry_after_failure(method, path, replay_then_attempt)

    async def _retry_after_failure(
        self, method: str, path: str, attempt: Callable[[], Awaitable[_T]]
    ) -> _T:
        policy = self.retry
        jitter = wait_random_exponential(
            multiplier=policy.initial_backoff_s, max=policy.max_backoff_s
        )

        def wait(state: RetryCallState) -> float:
            wait_s = jitter(state)
            exc = state.outcome.exception() if state.outcome is not None else None
            if isinstance(exc, TransientServiceError) and exc.retry_after_s is not None:
                wait_s = max(wait_s, exc.retry_after_s)
            return wait_s

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            log.warning(
                "api_retry",
                method=method,
                path=path,
                attempt=state.attempt_number,
                wait_s=round(state.upcoming_sleep, 3),
                error=repr(exc),
            )

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientServiceError),
            stop=stop_after_attempt(policy.max_attempts) | stop_before_delay(policy.max_total_s),
            wait=wait,
            before_sleep=before_sleep,
            sleep=anyio.sleep,
            reraise=True,
        )
        return await retrying(attempt)

    @staticmethod
    def _parse(model: type[_M], response: TransportResponse, method: str, path: str) -> _M:
        try:
            return model.model_validate(response.body)
        except ValidationError as exc:
            raise ServiceError(
                f"unexpected response body for {model.__name__}: {exc.error_count()} errors",
                method=method,
                path=path,
            ) from exc


def _message(response: TransportResponse) -> str:
    body = response.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return f"HTTP {response.status}"


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    # Only the delta-seconds form; an HTTP-date falls back to our own backoff.
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def _raise_transient(method: str, path: str, response: TransportResponse, message: str) -> NoReturn:
    status = response.status
    raise TransientServiceError(
        message,
        method=method,
        path=path,
        status=status,
        retry_after_s=_retry_after_s(response.headers) if status == 429 else None,
        # A 429 is refused before any work; a 5xx (even from a proxy) may come after it.
        ambiguous=status != 429,
    )


@dataclass(frozen=True)
class AskNext:
    """The next suggestion did not come with the report: ask for it with
    `suggest(request_key=..., maybe_created=...)` (the combined request may have made it)."""

    request_key: str
    maybe_created: bool


@dataclass(frozen=True)
class Reported:
    """What `report_and_ask` did: the stored observation (None: the service refused the
    report, `refused` says why), and the next suggestion, None when the budget is full,
    or `AskNext`."""

    observation: Observation | None
    next: Suggestion | AskNext | None
    refused: ServiceRejected | None = None


def _observation_body(
    suggestion_id: str,
    values: Sequence[MetricEvaluation] | None,
    failed: bool,
    metadata: Mapping[str, Any] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"suggestion": suggestion_id}
    if failed:
        # The service rejects `failed` together with values (spec section 4).
        body["failed"] = True
    else:
        body["values"] = [
            {"name": v.name, "value": v.value, "value_stddev": v.value_stddev} for v in values or ()
        ]
    if metadata is not None:
        body["metadata"] = dict(metadata)
    return body


def _refused_status(body: Mapping[str, Any]) -> int | None:
    refused = body.get("next_suggestion_refused")
    status = refused.get("status") if isinstance(refused, dict) else None
    return status if isinstance(status, int) else None
