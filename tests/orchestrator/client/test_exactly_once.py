"""ServiceClient writes stay exactly-once when an attempt's answer is lost; suggestion upkeep."""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest

from orchestrator.client import REQUEST_KEY, RetryPolicy, ServiceClient
from orchestrator.errors import (
    ServiceRejected,
    TransientServiceError,
)
from orchestrator.transport import MockTransport, TransportResponse
from sigopt_service.models import MetricEvaluation, SuggestionState
from tests.orchestrator.client.fake_sigopt import (
    EXPERIMENT_BODY,
    FakeSigOpt,
    client_for,
    error,
)


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
