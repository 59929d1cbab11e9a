"""Which of the service's URLs a request goes to: the current one, until it fails.

A client given several URLs (`service.url` as a list) sends every request to the current
one. When a request to it fails with no answer or with a 5xx, the next URL becomes current
(round robin) and stays so while it works: there is no going back to the first one until
the current one fails in turn. The failed request itself is not re-sent here; it raises,
and the caller's retry (with its exactly-once checks: `_lookups.py`) makes the next
attempt, which therefore asks the new URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from orchestrator.transport import Transport

log = structlog.get_logger()


@dataclass(frozen=True)
class Endpoint:
    """One of the service's URLs and the transport that reaches it."""

    url: str
    transport: Transport


class Endpoints:
    """The service's endpoints, in the order they are tried, and the current one."""

    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        if not endpoints:
            raise ValueError("Endpoints needs one or more endpoints")
        self._endpoints = tuple(endpoints)
        self._current = 0

    @classmethod
    def of(cls, urls: Sequence[str], transports: Sequence[Transport]) -> Endpoints:
        """One endpoint per URL, each with the transport at the same position."""
        if len(transports) != len(urls):
            raise ValueError(f"{len(transports)} transport(s) given for {len(urls)} URL(s)")
        return cls([Endpoint(url, t) for url, t in zip(urls, transports, strict=True)])

    def __repr__(self) -> str:
        urls = [endpoint.url for endpoint in self._endpoints]
        return f"Endpoints({urls!r}, current={self.current.url!r})"

    @property
    def all(self) -> tuple[Endpoint, ...]:
        return self._endpoints

    @property
    def current(self) -> Endpoint:
        return self._endpoints[self._current]

    def pick(self) -> tuple[int, Endpoint]:
        """The endpoint a request goes to, with the index to report its failure by."""
        return self._current, self._endpoints[self._current]

    def failed(self, index: int, error: str) -> None:
        """A request to endpoint `index` got no answer or a 5xx: move on to the next one.

        Only a failure of the current endpoint moves it: when it goes down, every request
        in flight to it fails, and each must not move it once more (with two URLs, an even
        number of moves would land back on the dead one)."""
        if len(self._endpoints) == 1 or index != self._current:
            return
        self._current = (index + 1) % len(self._endpoints)
        log.warning(
            "service_failover",
            from_url=self._endpoints[index].url,
            to_url=self._endpoints[self._current].url,
            error=error,
        )
