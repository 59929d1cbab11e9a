"""ServiceClient and transports: status mapping, retries, pagination, exactly-once writes.

Unit tests drive the client through `MockTransport`; the end-to-end tests run a real aiohttp
fake of SigOpt on loopback behind `FaultProxy`. The fake accepts duplicate observations for
one suggestion, as SigOpt does, so only the client's own logic keeps writes exactly-once.
"""

from __future__ import annotations

import base64
import re
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from orchestrator.client import REQUEST_KEY, RetryPolicy, ServiceClient
from orchestrator.errors import (
    ServiceError,
    ServiceRejected,
    TransientServiceError,
)
from orchestrator.transport import AiohttpTransport, MockTransport, TransportResponse
from sigopt_service.models import MetricEvaluation, SuggestionState
from tests.orchestrator.conftest import StoresDuplicateObservations
from tests.support.fault_proxy import FAULT_KINDS, FaultProxy, RandomFaults, ScriptedFaults

FAST = RetryPolicy(max_attempts=6, max_total_s=5, initial_backoff_s=0.001, max_backoff_s=0.005)
TOKEN = "s3cret"


# -- an in-memory SigOpt fake, shared by the mock transport and the real aiohttp server ------


@dataclass
class FakeSigOpt:
    """Just enough of SigOpt v1 for the client: experiments, suggestions, observations.

    Like real SigOpt it accepts any number of observations for one suggestion, so tests can
    count duplicates. Lists are newest first, `page_size` items per page, `before` markers.
    """

    page_size: int = 3
    experiments: dict[int, dict[str, Any]] = field(default_factory=dict)
    suggestions: dict[int, dict[str, Any]] = field(default_factory=dict)
    observations: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def observations_per_suggestion(self) -> Counter[str]:
        return Counter(o["suggestion"] for o in self.observations.values())

    def _state(self, sid: int) -> str:
        closed = any(o["suggestion"] == str(sid) for o in self.observations.values())
        return "closed" if closed else "open"

    def _suggestion(self, sid: int) -> dict[str, Any]:
        return {**self.suggestions[sid], "state": self._state(sid)}

    def _page(self, items: dict[int, dict[str, Any]], params: Mapping[str, str]) -> dict[str, Any]:
        limit = int(params.get("limit", self.page_size))
        ids = sorted(items, reverse=True)
        if "before" in params:
            ids = [i for i in ids if i < int(params["before"])]
        page = ids[:limit]
        return {
            "object": "pagination",
            "count": len(ids),
            "data": [items[i] for i in page],
            "paging": {
                "before": str(page[-1]) if len(ids) > limit else None,
                "after": str(page[0]) if page else None,
            },
        }

    def handle(
        self, method: str, path: str, params: Mapping[str, str], body: Any
    ) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[:1] != ["experiments"]:
            return 404, {"message": f"Endpoint not found: {path}", "status": 404}
        if len(parts) == 1 and method == "POST":
            eid = self._new_id()
            self.experiments[eid] = {
                "object": "experiment",
                "id": str(eid),
                "name": body["name"],
                "parameters": body["parameters"],
                "metrics": body.get("metrics", [{"name": None}]),
            }
            return 200, self.experiments[eid]
        eid = int(parts[1])
        if eid not in self.experiments:
            return 404, {"message": f"No experiment {eid}", "status": 404}
        rest = parts[2:]
        if not rest and method == "GET":
            return 200, self.experiments[eid]
        if rest == ["suggestions"]:
            return self._suggestions(eid, method, params, body)
        if len(rest) == 2 and rest[0] == "suggestions":
            sid = int(rest[1])
            if sid not in self.suggestions:
                return 404, {"message": f"No suggestion {sid} for experiment {eid}", "status": 404}
            if method == "DELETE":
                self.suggestions[sid]["deleted"] = True
                return 200, {}
            return 200, self._suggestion(sid)
        if rest == ["observations"]:
            return self._observations(eid, method, params, body)
        if rest == ["best_assignments"]:
            best = [o for o in self.observations.values() if not o["failed"]][:1]
            return 200, self._page(
                dict(enumerate({**b, "object": "best_assignments"} for b in best)), {}
            )
        return 404, {"message": f"Endpoint not found: {path}", "status": 404}

    def _suggestions(
        self, eid: int, method: str, params: Mapping[str, str], body: Any
    ) -> tuple[int, Any]:
        if method == "POST":
            sid = self._new_id()
            self.suggestions[sid] = {
                "object": "suggestion",
                "id": str(sid),
                "experiment": str(eid),
                "assignments": {"x": sid / 1000},
                "metadata": (body or {}).get("metadata"),
                "deleted": False,
            }
            return 200, self._suggestion(sid)
        live = {
            sid: self._suggestion(sid)
            for sid, s in self.suggestions.items()
            if not s["deleted"] and (params.get("state") != "open" or self._state(sid) == "open")
        }
        if method == "DELETE":
            for sid in live:
                self.suggestions[sid]["deleted"] = True
            return 200, {}
        return 200, self._page(live, params)

    def _observations(
        self, eid: int, method: str, params: Mapping[str, str], body: Any
    ) -> tuple[int, Any]:
        if method == "GET":
            return 200, self._page(self.observations, params)
        sid = int(body["suggestion"])
        if sid not in self.suggestions or self.suggestions[sid]["deleted"]:
            message = f"No suggestion: {sid} for experiment: {eid}"
            return 400, {"message": message, "status": 400}
        oid = self._new_id()
        self.observations[oid] = {
            "object": "observation",
            "id": str(oid),
            "experiment": str(eid),
            "suggestion": str(sid),
            "assignments": self.suggestions[sid]["assignments"],
            "values": body.get("values") or [],
            "failed": bool(body.get("failed", False)),
            "metadata": body.get("metadata"),
        }
        return 200, self.observations[oid]

    # The two front ends.

    def mock_handler(
        self, method: str, path: str, params: Mapping[str, str] | None, body: Any
    ) -> TransportResponse:
        status, payload = self.handle(method, path, params or {}, body)
        return TransportResponse(status, payload)

    def app(self) -> web.Application:
        async def route(request: web.Request) -> web.Response:
            expected = "Basic " + base64.b64encode(f"{TOKEN}:".encode()).decode()
            if request.headers.get("Authorization") != expected:
                return web.json_response({"message": "No API token", "status": 401}, status=401)
            body = await request.json() if request.can_read_body else None
            path = request.path.removeprefix("/v1")
            status, payload = self.handle(request.method, path, request.query, body)
            return web.json_response(payload, status=status)

        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", route)
        return app


EXPERIMENT_BODY = {"name": "t", "parameters": [{"name": "x", "type": "double"}]}


def ok(body: Any, headers: Mapping[str, str] | None = None) -> TransportResponse:
    return TransportResponse(200, body, headers or {})


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> TransportResponse:
    return TransportResponse(status, {"message": message, "status": status}, headers or {})


EXPERIMENT = {"object": "experiment", "id": "7", "name": "e", "parameters": [], "metrics": []}


def client_for(transport: MockTransport, retry: RetryPolicy = FAST) -> ServiceClient:
    return ServiceClient("http://unused.invalid", retry=retry, transport=transport)


def flaky(failures: list[TransportResponse | Exception]) -> MockTransport:
    """Answers with `failures` in order, then with the experiment forever."""
    pending = list(failures)

    def handler(method: str, path: str, params: Any, json: Any) -> TransportResponse:
        if pending:
            item = pending.pop(0)
            if isinstance(item, Exception):
                raise item
            return item
        return ok(EXPERIMENT)

    return MockTransport(handler)


@pytest.fixture
async def fake_client() -> AsyncIterator[tuple[FakeSigOpt, MockTransport, ServiceClient, str]]:
    fake = FakeSigOpt()
    transport = MockTransport(fake.mock_handler)
    async with client_for(transport) as client:
        experiment = await client.create_experiment(EXPERIMENT_BODY)
        transport.requests.clear()
        yield fake, transport, client, experiment.id


# -- status mapping and retries --------------------------------------------------------------


class TestStatusMapping:
    """Statuses map to models, retried transient errors, or ServiceRejected."""

    async def test_2xx_parses_into_the_wire_model(self) -> None:
        """A 200 body comes back as the service.models object."""
        async with client_for(flaky([])) as client:
            experiment = await client.get_experiment("7")
        assert experiment.id == "7" and experiment.name == "e"

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 501])
    async def test_other_errors_are_rejected_once_with_status_and_message(
        self, status: int
    ) -> None:
        """Non-transient statuses raise ServiceRejected at once, carrying status and message."""
        transport = flaky([error(status, "nope")] * 3)
        async with client_for(transport) as client:
            with pytest.raises(ServiceRejected) as caught:
                await client.get_experiment("7")
        assert caught.value.status == status
        assert caught.value.message == "nope"
        assert (caught.value.method, caught.value.path) == ("GET", "/experiments/7")
        assert len(transport.requests) == 1

    @pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
    async def test_transient_statuses_are_retried(self, status: int) -> None:
        """429, 500, 502, 503 and 504 are retried until the call succeeds."""
        transport = flaky([error(status, "busy"), error(status, "busy")])
        async with client_for(transport) as client:
            experiment = await client.get_experiment("7")
        assert experiment.id == "7"
        assert len(transport.requests) == 3

    async def test_500_is_rejected_when_server_errors_are_not_retried(self) -> None:
        """With retry_server_errors=False a 500 is final, while 502 stays transient."""
        policy = RetryPolicy(
            max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.001, retry_server_errors=False
        )
        transport = flaky([error(502, "proxy"), error(500, "boom")])
        async with client_for(transport, policy) as client:
            with pytest.raises(ServiceRejected) as caught:
                await client.get_experiment("7")
        assert caught.value.status == 500
        assert len(transport.requests) == 2

    async def test_transport_failures_are_retried(self) -> None:
        """A TransientServiceError raised by the transport is retried like a 503."""
        transport = flaky([TransientServiceError("refused", ambiguous=False)])
        async with client_for(transport) as client:
            assert (await client.get_experiment("7")).id == "7"
        assert len(transport.requests) == 2

    async def test_unparsable_success_body_is_a_service_error(self) -> None:
        """A 2xx whose body is not the expected object raises ServiceError, not a crash."""
        async with client_for(MockTransport(lambda *a: ok({"message": "<html>"}))) as client:
            with pytest.raises(ServiceError) as caught:
                await client.get_experiment("7")
        assert not isinstance(caught.value, ServiceRejected | TransientServiceError)


class TestRetryBounds:
    """Retries stop at the attempt bound or the total-time bound and honour Retry-After."""

    async def test_attempts_bound_raises_last_transient_error(self) -> None:
        """After max_attempts failures the last TransientServiceError propagates."""
        transport = flaky([error(503, "down")] * 100)
        policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.001)
        async with client_for(transport, policy) as client:
            with pytest.raises(TransientServiceError) as caught:
                await client.get_experiment("7")
        assert caught.value.status == 503
        assert len(transport.requests) == 3

    async def test_total_time_bound(self) -> None:
        """With unlimited attempts, retrying stops before max_total_s is exceeded."""
        transport = flaky([error(503, "down")] * 10_000)
        policy = RetryPolicy(
            max_attempts=10_000, max_total_s=0.3, initial_backoff_s=0.05, max_backoff_s=0.05
        )
        started = time.monotonic()
        with anyio.fail_after(5):
            async with client_for(transport, policy) as client:
                with pytest.raises(TransientServiceError):
                    await client.get_experiment("7")
        assert time.monotonic() - started < 1.0  # 0.3 s budget, slack for a loaded CI box
        assert 2 <= len(transport.requests) < 100

    async def test_retry_after_is_the_minimum_wait(self) -> None:
        """A 429's Retry-After seconds are waited even when the backoff is tiny."""
        transport = flaky([error(429, "slow down", {"Retry-After": "0.2"})])
        started = time.monotonic()
        with capture_logs() as logs, anyio.fail_after(5):
            async with client_for(transport) as client:
                await client.get_experiment("7")
        assert time.monotonic() - started >= 0.2
        retries = [e for e in logs if e["event"] == "api_retry"]
        assert len(retries) == 1
        assert retries[0]["wait_s"] >= 0.2

    async def test_retries_are_logged_as_data(self) -> None:
        """Each retry logs api_retry with method, path, attempt, wait and error."""
        transport = flaky([error(502, "a"), error(504, "b")])
        with capture_logs() as logs:
            async with client_for(transport) as client:
                await client.get_experiment("7")
        retries = [e for e in logs if e["event"] == "api_retry"]
        assert [e["attempt"] for e in retries] == [1, 2]
        assert all(e["method"] == "GET" and e["path"] == "/experiments/7" for e in retries)
        assert all(e["log_level"] == "warning" and "wait_s" in e for e in retries)
        assert "502" in retries[0]["error"]

    def test_policy_rejects_nonsense(self) -> None:
        """A policy with no attempt at all is refused when built."""
        with pytest.raises(ValueError, match="max_attempts"):
            RetryPolicy(max_attempts=0)


# -- pagination -------------------------------------------------------------------------------


class TestPagination:
    """List calls follow `paging.before` markers until null or an empty page."""

    async def test_follows_before_markers_across_pages(self) -> None:
        """Three pages are fetched with the same params plus the previous page's marker."""

        def page(ids: list[str], before: str | None) -> TransportResponse:
            data = [
                {"object": "suggestion", "id": i, "experiment": "7", "assignments": {}} for i in ids
            ]
            return ok(
                {
                    "object": "pagination",
                    "count": 5,
                    "data": data,
                    "paging": {"before": before, "after": None},
                }
            )

        pages = {
            None: page(["5", "4"], "m1"),
            "m1": page(["3", "2"], "m2"),
            "m2": page(["1"], None),
        }
        transport = MockTransport(
            lambda method, path, params, json: pages[(params or {}).get("before")]
        )
        async with client_for(transport) as client:
            suggestions = await client.open_suggestions("7")
        assert [s.id for s in suggestions] == ["5", "4", "3", "2", "1"]
        assert [r.params for r in transport.requests] == [
            {"state": "open"},
            {"state": "open", "before": "m1"},
            {"state": "open", "before": "m2"},
        ]

    async def test_stops_on_an_empty_page(self) -> None:
        """An empty page ends the walk even if it still carries a marker."""
        empty = ok({"object": "pagination", "count": 0, "data": [], "paging": {"before": "x"}})
        transport = MockTransport(lambda *args: empty)
        async with client_for(transport) as client:
            assert await client.observations("7") == []
        assert len(transport.requests) == 1

    async def test_observations_and_best_assignments_read_all_pages(
        self, fake_client: tuple[FakeSigOpt, MockTransport, ServiceClient, str]
    ) -> None:
        """observations() returns every observation across pages, newest first."""
        fake, _, client, eid = fake_client
        for _ in range(7):
            suggestion = await client.suggest(eid)
            await client.observe(eid, suggestion.id, values=[MetricEvaluation(value=1.0)])
        observations = await client.observations(eid)
        assert len(observations) == 7
        assert [int(o.id) for o in observations] == sorted(fake.observations, reverse=True)
        assert len(await client.best_assignments(eid)) == 1


# -- exactly-once writes ----------------------------------------------------------------------


def lose_answer_once(fake: FakeSigOpt, method: str, path_regex: str) -> MockTransport:
    """The first matching request reaches the fake, which acts, but its answer is lost."""
    lost = False

    def handler(meth: str, path: str, params: Any, json: Any) -> TransportResponse:
        nonlocal lost
        response = fake.mock_handler(meth, path, params, json)
        if not lost and meth == method and re.search(path_regex, path):
            lost = True
            raise TransientServiceError("server disconnected", method=meth, path=path)
        return response

    return MockTransport(handler)


class TestObserveExactlyOnce:
    """observe never creates a second observation for a suggestion it already reported."""

    async def test_ambiguous_failure_on_closed_suggestion_does_not_resend(self) -> None:
        """The POST landed but its answer was lost: the existing observation is returned."""
        fake = FakeSigOpt(page_size=2)
        transport = lose_answer_once(fake, "POST", r"/observations$")
        async with client_for(transport) as client:
            eid = (await client.create_experiment(EXPERIMENT_BODY)).id
            target = await client.suggest(eid)
            for _ in range(5):  # newer observations push the target's onto a later page
                other = await client.suggest(eid)
                fake.handle(
                    "POST", f"/experiments/{eid}/observations", {}, {"suggestion": other.id}
                )
            transport.requests.clear()
            with anyio.fail_after(5):
                observation = await client.observe(
                    eid, target.id, values=[MetricEvaluation(name="y", value=0.5)]
                )
        assert transport.count("POST") == 1
        assert observation.suggestion == target.id
        assert fake.observations_per_suggestion()[target.id] == 1
        assert transport.count("GET", f"/experiments/{eid}/suggestions/{target.id}") == 1

    async def test_ambiguous_failure_on_open_suggestion_resends(self) -> None:
        """The POST never landed (suggestion still open): it is sent again, once."""
        fake = FakeSigOpt()
        pending = [TransientServiceError("timeout")]

        def handler(method: str, path: str, params: Any, json: Any) -> TransportResponse:
            if method == "POST" and path.endswith("/observations") and pending:
                raise pending.pop()
            return fake.mock_handler(method, path, params, json)

        transport = MockTransport(handler)
        async with client_for(transport) as client:
            eid = (await client.create_experiment(EXPERIMENT_BODY)).id
            suggestion = await client.suggest(eid)
            await client.observe(eid, suggestion.id, values=[MetricEvaluation(value=1.0)])
        assert transport.count("POST", f"/experiments/{eid}/observations") == 2
        assert fake.observations_per_suggestion()[suggestion.id] == 1

    async def test_unambiguous_failure_skips_the_check(
        self, fake_client: tuple[FakeSigOpt, MockTransport, ServiceClient, str]
    ) -> None:
        """After a 429 nothing can have happened, so no suggestion lookup precedes the re-send."""
        fake, _, _, eid = fake_client
        suggestion_id = fake.handle("POST", f"/experiments/{eid}/suggestions", {}, {})[1]["id"]
        pending = [error(429, "slow", {"Retry-After": "0"})]

        def handler(method: str, path: str, params: Any, json: Any) -> TransportResponse:
            return pending.pop() if pending else fake.mock_handler(method, path, params, json)

        transport = MockTransport(handler)
        async with client_for(transport) as client:
            await client.observe(eid, suggestion_id, values=[MetricEvaluation(value=1.0)])
        assert [r.method for r in transport.requests] == ["POST", "POST"]

    async def test_maybe_sent_checks_before_the_first_send(
        self, fake_client: tuple[FakeSigOpt, MockTransport, ServiceClient, str]
    ) -> None:
        """A caller whose earlier call may have landed passes maybe_sent and gets no duplicate."""
        fake, transport, client, eid = fake_client
        suggestion = await client.suggest(eid)
        first = await client.observe(eid, suggestion.id, values=[MetricEvaluation(value=1.0)])
        again = await client.observe(
            eid, suggestion.id, values=[MetricEvaluation(value=1.0)], maybe_sent=True
        )
        assert again.id == first.id
        assert fake.observations_per_suggestion()[suggestion.id] == 1
        assert transport.count("POST", f"/experiments/{eid}/observations") == 1

    async def test_final_error_remembers_an_earlier_ambiguous_attempt(self) -> None:
        """A lost answer followed by 429s until retries run out escapes as ambiguous."""
        fake = FakeSigOpt()
        failures: list[Exception | TransportResponse] = [TransientServiceError("reset")]
        failures += [error(429, "slow", {"Retry-After": "0"})] * 10

        def handler(method: str, path: str, params: Any, json: Any) -> TransportResponse:
            if path.endswith("/observations") and failures:
                item = failures.pop(0)
                if isinstance(item, Exception):
                    fake.mock_handler(method, path, params, json)  # it landed
                    raise item
                return item
            return fake.mock_handler(method, path, params, json)

        transport = MockTransport(handler)
        policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.001)
        async with client_for(transport, policy) as client:
            eid = (await client.create_experiment(EXPERIMENT_BODY)).id
            suggestion = await client.suggest(eid)
            # The check's listing of observations matches the path too, so it gets the 429s.
            with pytest.raises(TransientServiceError) as caught:
                await client.observe(eid, suggestion.id, values=[MetricEvaluation(value=1.0)])
        assert caught.value.status == 429 and caught.value.ambiguous is True

    async def test_failed_observation_body_has_no_values(
        self, fake_client: tuple[FakeSigOpt, MockTransport, ServiceClient, str]
    ) -> None:
        """failed=True sends suggestion, failed and metadata, and no values."""
        _, transport, client, eid = fake_client
        suggestion = await client.suggest(eid)
        observation = await client.observe(eid, suggestion.id, failed=True, metadata={"w": "a"})
        assert observation.failed and observation.values == []
        assert transport.requests[-1].json == {
            "suggestion": suggestion.id,
            "failed": True,
            "metadata": {"w": "a"},
        }

    async def test_values_are_sent_as_metric_evaluations(
        self, fake_client: tuple[FakeSigOpt, MockTransport, ServiceClient, str]
    ) -> None:
        """values go out as a list of {name, value, value_stddev}."""
        _, transport, client, eid = fake_client
        suggestion = await client.suggest(eid)
        await client.observe(
            eid, suggestion.id, values=[MetricEvaluation(name="y", value=2.0, value_stddev=0.1)]
        )
        assert transport.requests[-1].json == {
            "suggestion": suggestion.id,
            "values": [{"name": "y", "value": 2.0, "value_stddev": 0.1}],
        }

    async def test_deleted_suggestion_is_rejected(
        self, fake_client: tuple[FakeSigOpt, MockTransport, ServiceClient, str]
    ) -> None:
        """Observing a suggestion deleted meanwhile raises ServiceRejected(400)."""
        _, _, client, eid = fake_client
        suggestion = await client.suggest(eid)
        await client.delete_suggestion(eid, suggestion.id)
        with pytest.raises(ServiceRejected) as caught:
            await client.observe(eid, suggestion.id, values=[MetricEvaluation(value=1.0)])
        assert caught.value.status == 400 and "No suggestion" in caught.value.message


class TestSuggestExactlyOnce:
    """suggest never leaves an orphan behind when an attempt's answer is lost."""

    async def test_adopts_the_orphan_carrying_its_request_key(self) -> None:
        """The POST created a suggestion but the answer was lost: that suggestion is adopted."""
        fake = FakeSigOpt(page_size=2)
        transport = lose_answer_once(fake, "POST", r"/suggestions$")
        async with client_for(transport) as client:
            eid = (await client.create_experiment(EXPERIMENT_BODY)).id
            with anyio.fail_after(5):
                suggestion = await client.suggest(eid, metadata={"run": "r1"})
            others = [await client.suggest(eid) for _ in range(3)]
            assert suggestion.id not in {s.id for s in others}
        assert len(fake.suggestions) == 4
        assert transport.count("POST", f"/experiments/{eid}/suggestions") == 4
        assert suggestion.metadata is not None
        assert (
            suggestion.metadata["run"] == "r1" and len(str(suggestion.metadata[REQUEST_KEY])) == 32
        )
        assert suggestion.state is SuggestionState.OPEN

    async def test_adopts_across_pages(self) -> None:
        """The orphan is found even when newer open suggestions push it to a later page."""
        fake = FakeSigOpt(page_size=1)
        created = False

        def handler(method: str, path: str, params: Any, json: Any) -> TransportResponse:
            nonlocal created
            response = fake.mock_handler(method, path, params, json)
            if method == "POST" and path.endswith("/suggestions") and not created:
                created = True
                for _ in range(3):  # other workers' suggestions, newer than ours
                    fake.handle("POST", path, {}, {"metadata": {"run": "other"}})
                raise TransientServiceError("timeout", method=method, path=path)
            return response

        transport = MockTransport(handler)
        async with client_for(transport) as client:
            eid = (await client.create_experiment(EXPERIMENT_BODY)).id
            suggestion = await client.suggest(eid)
        assert len(fake.suggestions) == 4
        assert suggestion.id == min(str(s) for s in fake.suggestions)

    async def test_resends_when_nothing_was_created(
        self, fake_client: tuple[FakeSigOpt, MockTransport, ServiceClient, str]
    ) -> None:
        """An ambiguous failure that created nothing leads to exactly one new suggestion."""
        fake, _, _, eid = fake_client
        pending = [TransientServiceError("reset")]

        def handler(method: str, path: str, params: Any, json: Any) -> TransportResponse:
            if method == "POST" and pending:
                raise pending.pop()
            return fake.mock_handler(method, path, params, json)

        transport = MockTransport(handler)
        async with client_for(transport) as client:
            await client.suggest(eid)
        assert [r.method for r in transport.requests] == ["POST", "GET", "POST"]
        assert len(fake.suggestions) == 1

    async def test_each_call_gets_a_fresh_request_key(
        self, fake_client: tuple[FakeSigOpt, MockTransport, ServiceClient, str]
    ) -> None:
        """Two suggest calls never share a request_key, so neither adopts the other's."""
        _, transport, client, eid = fake_client
        a = await client.suggest(eid)
        b = await client.suggest(eid)
        assert a.metadata and b.metadata
        assert a.metadata[REQUEST_KEY] != b.metadata[REQUEST_KEY]
        assert transport.requests[0].json == {"metadata": {REQUEST_KEY: a.metadata[REQUEST_KEY]}}


class TestSuggestionHousekeeping:
    """Deleting suggestions is idempotent and open_suggestions sees only open ones."""

    async def test_delete_missing_suggestion_is_fine(
        self, fake_client: tuple[FakeSigOpt, MockTransport, ServiceClient, str]
    ) -> None:
        """A 404 on delete means already gone, so it does not raise."""
        _, transport, client, eid = fake_client
        await client.delete_suggestion(eid, "999")
        assert [(r.method, r.path) for r in transport.requests] == [
            ("DELETE", f"/experiments/{eid}/suggestions/999")
        ]

    async def test_delete_open_suggestions(
        self, fake_client: tuple[FakeSigOpt, MockTransport, ServiceClient, str]
    ) -> None:
        """delete_open_suggestions removes open ones and keeps closed ones."""
        _, transport, client, eid = fake_client
        closed = await client.suggest(eid)
        await client.observe(eid, closed.id, values=[MetricEvaluation(value=1.0)])
        for _ in range(4):
            await client.suggest(eid)
        assert len(await client.open_suggestions(eid)) == 4
        await client.delete_open_suggestions(eid)
        assert await client.open_suggestions(eid) == []
        assert (await client.get_suggestion(eid, closed.id)).state is SuggestionState.CLOSED
        deletes = [r for r in transport.requests if r.method == "DELETE"]
        assert deletes[0].params == {"state": "open"}


# -- cancellation -------------------------------------------------------------------------------


class TestCancellation:
    """A call cancelled mid-request leaves the client usable."""

    async def test_mock_slow_request_cancelled_then_next_call_succeeds(self) -> None:
        """Cancel a hanging request via move_on_after; the next call on the client works."""
        slow = True

        async def handler(method: str, path: str, params: Any, json: Any) -> TransportResponse:
            if slow:
                await anyio.sleep(30)
            return ok(EXPERIMENT)

        async with client_for(MockTransport(handler)) as client:
            with anyio.fail_after(5):
                with anyio.move_on_after(0.05) as scope:
                    await client.get_experiment("7")
                assert scope.cancelled_caught
                slow = False
                assert (await client.get_experiment("7")).id == "7"

    async def test_real_transport_cancelled_then_next_call_succeeds(self) -> None:
        """The aiohttp session survives a cancelled in-flight request."""
        release = anyio.Event()

        async def handler(request: web.Request) -> web.Response:
            if request.query.get("slow"):
                await release.wait()
            return web.json_response(EXPERIMENT)

        app = web.Application()
        app.router.add_get("/v1/experiments/7", handler)
        async with TestServer(app, host="127.0.0.1", port=0) as server:
            base = str(server.make_url("")).rstrip("/")
            async with AiohttpTransport(base, token=TOKEN, request_timeout_s=10) as transport:
                with anyio.fail_after(5):
                    with anyio.move_on_after(0.1) as scope:
                        await transport.request("GET", "/experiments/7", params={"slow": "1"})
                    assert scope.cancelled_caught
                    release.set()
                    response = await transport.request("GET", "/experiments/7")
        assert response.status == 200 and response.body["id"] == "7"


# -- the real transport ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting to it is refused


class TestAiohttpTransport:
    """The aiohttp transport speaks SigOpt's wire conventions and maps network errors."""

    async def test_refused_connection_is_transient_and_unambiguous(self) -> None:
        """Connecting to a closed port raises TransientServiceError(ambiguous=False)."""
        url = f"http://127.0.0.1:{free_port()}"
        with anyio.fail_after(10):
            async with AiohttpTransport(url, token=TOKEN, connect_timeout_s=2) as transport:
                with pytest.raises(TransientServiceError) as caught:
                    await transport.request("GET", "/experiments/1")
        assert caught.value.ambiguous is False and caught.value.status is None
        assert caught.value.method == "GET" and caught.value.path == "/experiments/1"
        assert caught.value.__cause__ is not None

    async def test_client_retries_refused_then_raises(self) -> None:
        """ServiceClient gives up on a refused port after max_attempts with the transient error."""
        policy = RetryPolicy(max_attempts=2, initial_backoff_s=0.001, max_backoff_s=0.001)
        with anyio.fail_after(10):
            async with ServiceClient(
                f"http://127.0.0.1:{free_port()}", token=TOKEN, retry=policy, connect_timeout_s=2
            ) as client:
                with pytest.raises(TransientServiceError):
                    await client.get_experiment("1")

    async def test_wire_conventions(self) -> None:
        """Requests go to /v1 with Basic auth (token, empty password) and a JSON body."""
        seen: list[web.Request] = []
        bodies: list[Any] = []

        async def handler(request: web.Request) -> web.Response:
            seen.append(request)
            bodies.append(await request.json())
            return web.json_response(EXPERIMENT)

        app = web.Application()
        app.router.add_post("/v1/experiments", handler)
        with anyio.fail_after(5):
            async with TestServer(app, host="127.0.0.1", port=0) as server:
                client = ServiceClient(str(server.make_url("/")), token=TOKEN)
                async with client:
                    await client.create_experiment({"name": "e", "parameters": []})
        auth = seen[0].headers["Authorization"]
        assert base64.b64decode(auth.removeprefix("Basic ")) == f"{TOKEN}:".encode()
        assert seen[0].headers["Content-Type"] == "application/json"
        assert bodies == [{"name": "e", "parameters": []}]

    async def test_non_json_error_body_becomes_the_message(self) -> None:
        """A plain-text error body is read as {"message": text}, as the official client does."""

        async def handler(request: web.Request) -> web.Response:
            return web.Response(status=418, text="teapot")

        app = web.Application()
        app.router.add_get("/v1/experiments/1", handler)
        with anyio.fail_after(5):
            async with TestServer(app, host="127.0.0.1", port=0) as server:
                client = ServiceClient(str(server.make_url("")), token=TOKEN)
                async with client:
                    with pytest.raises(ServiceRejected) as caught:
                        await client.get_experiment("1")
        assert (caught.value.status, caught.value.message) == (418, "teapot")

    async def test_read_timeout_is_transient_and_ambiguous(self) -> None:
        """A request that outlives request_timeout_s may have been processed: ambiguous."""

        async def handler(request: web.Request) -> web.Response:
            await anyio.sleep(5)
            return web.json_response({})

        app = web.Application()
        app.router.add_post("/v1/experiments", handler)
        async with TestServer(app, host="127.0.0.1", port=0) as server:
            base = str(server.make_url(""))
            async with AiohttpTransport(base, token=TOKEN, request_timeout_s=0.2) as transport:
                with anyio.fail_after(5), pytest.raises(TransientServiceError) as caught:
                    await transport.request("POST", "/experiments", json={})
        assert caught.value.ambiguous is True


# -- end to end through the fault proxy -------------------------------------------------------


@pytest.fixture
async def fake_server() -> AsyncIterator[tuple[FakeSigOpt, str]]:
    fake = FakeSigOpt(page_size=4)
    async with TestServer(fake.app(), host="127.0.0.1", port=0) as server:
        yield fake, str(server.make_url("")).rstrip("/")


CHAOS_RETRY = RetryPolicy(
    max_attempts=30, max_total_s=20, initial_backoff_s=0.001, max_backoff_s=0.01
)
#: About 30% of requests fail, spread over every kind of fault.
CHAOS_RATES: dict[Any, float] = {
    "error_500": 0.04,
    "error_502": 0.04,
    "error_503": 0.04,
    "throttle_429": 0.04,
    "drop_before": 0.05,
    "drop_after": 0.06,
    "latency": 0.03,
}


class TestFaultProxy:
    """The proxy injects each fault kind as scripted and counts it."""

    async def test_scripted_faults_hit_matching_requests_in_order(
        self, fake_server: tuple[FakeSigOpt, str]
    ) -> None:
        """1. drop_after: the fake acts, the client gets a disconnect.
        2. drop_before: the fake does not act, the client gets a disconnect.
        3. error_503 / throttle_429: status answers without forwarding.
        4. latency: the normal answer. Unmatched requests pass untouched."""
        fake, url = fake_server
        plan = ScriptedFaults(
            ("POST", r"/experiments$", ["drop_after", "drop_before", "error_503", "throttle_429"]),
            ("POST", r"/experiments$", ["latency"]),
        )
        async with FaultProxy(url, plan=plan, latency_s=0.01) as proxy:
            transport = AiohttpTransport(proxy.url, token=TOKEN, request_timeout_s=5)
            async with transport:
                with anyio.fail_after(10):
                    outcomes: list[int | str] = []
                    for _ in range(6):
                        try:
                            resp = await transport.request(
                                "POST", "/experiments", json=EXPERIMENT_BODY
                            )
                            outcomes.append(resp.status)
                        except TransientServiceError as exc:
                            outcomes.append(type(exc).__name__)
                    await transport.request("GET", "/experiments/1")
        assert outcomes == [
            "TransientServiceError",
            "TransientServiceError",
            503,
            429,
            200,
            200,
        ]
        assert len(fake.experiments) == 3  # drop_after, latency and the untouched one
        assert plan.is_exhausted
        assert proxy.injected == Counter(
            {"drop_after": 1, "drop_before": 1, "error_503": 1, "throttle_429": 1, "latency": 1}
        )
        assert proxy.requests[-1].fault is None

    def test_random_plan_is_seeded_and_validated(self) -> None:
        """The same seed yields the same faults; unknown kinds and rates over 1 are refused."""
        a = RandomFaults(CHAOS_RATES, seed=3)
        b = RandomFaults(CHAOS_RATES, seed=3)
        assert [a("GET", "/") for _ in range(50)] == [b("GET", "/") for _ in range(50)]
        with pytest.raises(ValueError):
            RandomFaults({"meteor": 0.1})  # type: ignore[dict-item]
        with pytest.raises(ValueError):
            RandomFaults({"error_500": 0.7, "drop_after": 0.7})


@asynccontextmanager
async def chaos_client(url: str, *, seed: int) -> AsyncIterator[tuple[FaultProxy, ServiceClient]]:
    plan = RandomFaults(CHAOS_RATES, seed=seed)
    async with FaultProxy(url, plan=plan, latency_s=0.01) as proxy:
        client = ServiceClient(proxy.url, token=TOKEN, retry=CHAOS_RETRY, request_timeout_s=5)
        async with client:
            yield proxy, client


async def suggest_observe_cycles(client: ServiceClient, eid: str, n: int) -> None:
    for i in range(n):
        suggestion = await client.suggest(eid, metadata={"cycle": i})
        await client.observe(eid, suggestion.id, values=[MetricEvaluation(value=float(i))])


def assert_exactly_once(fake: FakeSigOpt, expected: int) -> None:
    per_suggestion = fake.observations_per_suggestion()
    assert len(fake.observations) == expected
    assert max(per_suggestion.values()) == 1, "a suggestion got two observations"
    assert len(fake.suggestions) == expected, "a retried suggest created an extra suggestion"
    open_left = [s for s in fake.suggestions if str(s) not in per_suggestion]
    assert open_left == [], "orphan open suggestions remain"


@pytest.mark.slow
class TestChaos:
    """Under ~30% injected faults of every kind, writes stay exactly-once end to end."""

    async def test_fifty_cycles_through_faults(self, fake_server: tuple[FakeSigOpt, str]) -> None:
        """50 sequential suggest+observe cycles give 50 observations, one per suggestion."""
        fake, url = fake_server
        with anyio.fail_after(25), capture_logs() as logs:
            async with chaos_client(url, seed=7) as (proxy, client):
                eid = (await client.create_experiment(EXPERIMENT_BODY)).id
                await suggest_observe_cycles(client, eid, 50)
                assert await client.open_suggestions(eid) == []
        assert_exactly_once(fake, 50)
        # The ambiguous paths really ran: lost answers were adopted, not re-sent.
        events = Counter(e["event"] for e in logs)
        assert events["suggestion_adopted"] > 0 and events["observation_adopted"] > 0, events
        assert set(proxy.injected) == set(FAULT_KINDS), proxy.injected
        assert sum(proxy.injected.values()) >= 30

    async def test_concurrent_slots_through_faults(
        self, fake_server: tuple[FakeSigOpt, str]
    ) -> None:
        """Five concurrent slots of 10 cycles each keep the same exactly-once guarantees."""
        fake, url = fake_server
        with anyio.fail_after(25):
            async with chaos_client(url, seed=11) as (proxy, client):
                eid = (await client.create_experiment(EXPERIMENT_BODY)).id
                async with anyio.create_task_group() as tg:
                    for _ in range(5):
                        tg.start_soon(suggest_observe_cycles, client, eid, 10)
        assert_exactly_once(fake, 50)
        assert proxy.injected["drop_after"] > 0


class TestAgainstTheProjectService(StoresDuplicateObservations):
    """The client drives the project's own service (sigopt_service.http) through faults,
    exactly-once."""

    async def test_concurrent_cycles_through_faults(self, service_url: str) -> None:
        """Five slots of 8 cycles (some failed) leave 40 observations, one per suggestion."""
        body = {
            "name": "chaos",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "metrics": [{"name": "y", "objective": "maximize"}],
            "observation_budget": 40,
            "parallel_bandwidth": 5,
        }

        async def slot(client: ServiceClient, eid: str) -> None:
            for i in range(8):
                suggestion = await client.suggest(eid, metadata={"slot_cycle": i})
                if i % 4 == 3:
                    await client.observe(eid, suggestion.id, failed=True)
                else:
                    value = float(suggestion.assignments["x"])
                    await client.observe(
                        eid, suggestion.id, values=[MetricEvaluation(name="y", value=value)]
                    )

        with anyio.fail_after(25):
            async with chaos_client(service_url, seed=5) as (proxy, client):
                eid = (await client.create_experiment(body)).id
                async with anyio.create_task_group() as tg:
                    for _ in range(5):
                        tg.start_soon(slot, client, eid)
                observations = await client.observations(eid)
                assert await client.open_suggestions(eid) == []
                experiment = await client.get_experiment(eid)
                best = await client.best_assignments(eid)
        per_suggestion = Counter(o.suggestion for o in observations)
        assert len(observations) == 40 and max(per_suggestion.values()) == 1
        assert experiment.progress is not None and experiment.progress.observation_count == 40
        assert len(best) == 1
        assert proxy.injected["drop_after"] > 0
