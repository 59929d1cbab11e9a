"""One request to the service as the client sees it: status mapped to errors, body parsed.

The status table of the package docstring is implemented here, once; `Requests.call` adds
the retries of `RetryPolicy`, `Requests.send` is one attempt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, NoReturn, TypeVar

from pydantic import ValidationError

from orchestrator.client._failover import Endpoints
from orchestrator.client._retry import RetryPolicy, retrying
from orchestrator.errors import ServiceError, ServiceRejected, TransientServiceError
from orchestrator.transport import Transport, TransportResponse
from sigopt_service.models import Pagination, WireModel

_M = TypeVar("_M", bound=WireModel)

_ALWAYS_TRANSIENT = frozenset({429, 502, 503, 504})


class Requests:
    """The transports plus failover, status mapping, parsing, paging and retries.

    Each attempt goes to the current endpoint; one that gets no answer or a 5xx makes the
    next endpoint current (`_failover.py`) before it raises. `policy` is read on every call
    (the client's `retry` attribute is the source).
    """

    def __init__(self, endpoints: Endpoints, policy: RetryPolicy) -> None:
        self.endpoints = endpoints
        self.policy = policy

    @property
    def transport(self) -> Transport:
        """The current endpoint's transport."""
        return self.endpoints.current.transport

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> TransportResponse:
        """One attempt, on the current endpoint: its answer, or the error its status maps
        to."""
        index, endpoint = self.endpoints.pick()
        try:
            response = await endpoint.transport.request(method, path, params=params, json=json)
        except TransientServiceError as exc:
            self.endpoints.failed(index, str(exc))
            raise
        status = response.status
        if 200 <= status < 300:
            return response
        message = error_message(response)
        if status >= 500:
            self.endpoints.failed(index, f"HTTP {status}: {message}")
        if status in _ALWAYS_TRANSIENT or (status == 500 and self.policy.retry_server_errors):
            _raise_transient(method, path, response, message)
        code, field = error_data(response)
        raise ServiceRejected(status, message, method=method, path=path, code=code, field=field)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> TransportResponse:
        """`send` with retries: for requests that are safe to repeat as they are."""

        async def attempt() -> TransportResponse:
            return await self.send(method, path, params=params, json=json)

        return await retrying(self.policy, method, path, attempt)

    async def iter_pages(
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
                response = await self.call("GET", path, params=query)
            else:
                response = await self.send("GET", path, params=query)
            page = parse(Pagination[model], response, "GET", path)  # type: ignore[valid-type]
            for item in page.data:
                yield item
            if not page.data or page.paging.before is None:
                return
            query = {**params, "before": page.paging.before}


def parse(model: type[_M], response: TransportResponse, method: str, path: str) -> _M:
    """The body as `model`; a `ServiceError` when it does not fit."""
    try:
        return model.model_validate(response.body)
    except ValidationError as exc:
        raise ServiceError(
            f"unexpected response body for {model.__name__}: {exc.error_count()} errors",
            method=method,
            path=path,
        ) from exc


def error_message(response: TransportResponse) -> str:
    body = response.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return f"HTTP {response.status}"


def error_data(response: TransportResponse) -> tuple[str | None, str | None]:
    """The error body's stable `code` and `field`; None for each the server did not send
    (a foreign SigOpt server sends neither)."""
    body = response.body
    if not isinstance(body, dict):
        return None, None
    code, field = body.get("code"), body.get("field")
    return (
        code if isinstance(code, str) else None,
        field if isinstance(field, str) else None,
    )


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
