"""Errors as data on the client side: `ServiceRejected` carries the service's `code` and
`field`, and the client branches on status, code and field, never on the message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from orchestrator.client import AskNext, RetryPolicy, ServiceClient
from orchestrator.errors import BudgetExhausted, ServiceRejected
from orchestrator.transport import MockTransport, TransportResponse
from sigopt_service.models import MetricEvaluation, Suggestion

FAST = RetryPolicy(max_attempts=3, max_total_s=5, initial_backoff_s=0.001, max_backoff_s=0.005)
ONE = [MetricEvaluation(name="value", value=1.0)]
EXPERIMENT = {"object": "experiment", "id": "7", "name": "e", "parameters": [], "metrics": []}


def suggestion(sid: str) -> dict[str, Any]:
    return {"object": "suggestion", "id": sid, "experiment": "7", "assignments": {"x": 0.5}}


def observation(sid: str) -> dict[str, Any]:
    return {"object": "observation", "id": "o" + sid, "experiment": "7", "suggestion": sid}


def refusal(status: int, message: str, **data: str) -> TransportResponse:
    return TransportResponse(status, {"message": message, "status": status, **data})


def client_for(transport: MockTransport) -> ServiceClient:
    return ServiceClient("http://unused", transport=transport, retry=FAST)


class TestRejectedCarriesData:
    """`ServiceRejected` has the body's code and field, or None for each it lacks."""

    async def test_code_and_field_from_the_body(self) -> None:
        """A 400 with code and field raises ServiceRejected carrying both."""
        answer = refusal(400, "bad", code="invalid_value", field="parameters[0].bounds")
        async with client_for(MockTransport(lambda *a: answer)) as client:
            with pytest.raises(ServiceRejected) as caught:
                await client.get_experiment("7")
        assert (caught.value.status, caught.value.code, caught.value.field) == (
            400,
            "invalid_value",
            "parameters[0].bounds",
        )
        assert "code='invalid_value'" in repr(caught.value)

    @pytest.mark.parametrize(
        "body", [{"message": "bad", "status": 400}, {"message": "bad", "code": 3}, None, "text"]
    )
    async def test_none_when_the_server_sends_no_data(self, body: Any) -> None:
        """A foreign server's body (no code, no field, or not even JSON) gives None."""
        async with client_for(MockTransport(lambda *a: TransportResponse(400, body))) as client:
            with pytest.raises(ServiceRejected) as caught:
                await client.get_experiment("7")
        assert (caught.value.code, caught.value.field) == (None, None)

    @pytest.mark.parametrize("code", ["budget_reached", None])
    async def test_budget_refusal_is_budget_exhausted(self, code: str | None) -> None:
        """A 409 to a within-budget suggest is BudgetExhausted, with the code if any."""
        data = {"code": code} if code else {}
        answer = refusal(409, "full", **data)
        async with client_for(MockTransport(lambda *a: answer)) as client:
            with pytest.raises(BudgetExhausted) as caught:
                await client.suggest("7", within_budget=True)
        assert caught.value.status == 409 and caught.value.code == code


class CombinedService:
    """Answers POST .../observations as configured, and everything else plainly."""

    def __init__(self, combined: TransportResponse) -> None:
        self.combined = combined
        self.carried = 0  # observation POSTs that asked for a next suggestion
        self.transport = MockTransport(self.handle)

    def handle(
        self, method: str, path: str, params: Mapping[str, str] | None, json: Any
    ) -> TransportResponse:
        if method == "POST" and path.endswith("/observations"):
            if "next_suggestion" in json:
                self.carried += 1
                return self.combined
            return TransportResponse(200, observation(json["suggestion"]))
        if method == "POST" and path.endswith("/suggestions"):
            return TransportResponse(200, suggestion("9"))
        return TransportResponse(200, EXPERIMENT)

    async def report_twice(self) -> list[Any]:
        """Two `report_and_ask` calls; what each returned as `next`."""
        out = []
        async with client_for(self.transport) as client:
            for sid in ("1", "2"):
                reported = await client.report_and_ask("7", sid, values=ONE, within_budget=True)
                assert reported.observation is not None and reported.refused is None
                out.append(reported.next)
        return out


class TestNextSuggestionByField:
    """Whether the server knows `next_suggestion` is read from field and code, not prose."""

    @pytest.mark.parametrize("field", ["next_suggestion", "next_suggestion.metadata"])
    async def test_a_refusal_naming_the_field_turns_the_extension_off(self, field: str) -> None:
        """A 400 about `next_suggestion`: observe alone, and never ask again."""
        service = CombinedService(refusal(400, "Unknown key", code="unknown_key", field=field))
        nexts = await service.report_twice()
        assert all(isinstance(n, AskNext) and not n.maybe_created for n in nexts)
        assert service.carried == 1

    async def test_a_refusal_about_another_field_keeps_it(self) -> None:
        """A 400 about the values (even if its message says next_suggestion) keeps asking."""
        answer = refusal(400, "next_suggestion: bad value", code="invalid_value", field="values")
        service = CombinedService(answer)
        await service.report_twice()
        assert service.carried == 2

    async def test_a_bare_400_turns_it_off(self) -> None:
        """A server that gives no error data, and stores the same report sent alone, does
        not offer the extension (ours does both)."""
        service = CombinedService(TransportResponse(400, {"message": "Invalid", "status": 400}))
        await service.report_twice()
        assert service.carried == 1

    async def test_a_bare_400_about_the_report_keeps_it(self) -> None:
        """A bare 400 that the report alone also gets (its suggestion was deleted) was
        about the report, not the extension: the next report still asks."""
        bare = TransportResponse(400, {"message": "No suggestion: 1", "status": 400})
        service = CombinedService(bare)
        plain = service.handle

        def handle(
            method: str, path: str, params: Mapping[str, str] | None, json: Any
        ) -> TransportResponse:
            if method == "POST" and path.endswith("/observations") and json["suggestion"] == "1":
                if "next_suggestion" in json:
                    service.carried += 1
                return bare
            return plain(method, path, params, json)

        service.transport = MockTransport(handle)
        async with client_for(service.transport) as client:
            first = await client.report_and_ask("7", "1", values=ONE, within_budget=True)
            second = await client.report_and_ask("7", "2", values=ONE, within_budget=True)
        assert first.observation is None and first.refused is not None
        assert second.observation is not None
        assert service.carried == 2


class TestNextSuggestionRefused:
    """`next_suggestion_refused` with a 409 (code `budget_reached` when given) means no next."""

    @pytest.mark.parametrize(
        "refused", [{"status": 409, "code": "budget_reached"}, {"status": 409}]
    )
    async def test_budget_reached_gives_no_next(self, refused: dict[str, Any]) -> None:
        body = {**observation("1"), "next_suggestion": None, "next_suggestion_refused": refused}
        nexts = await CombinedService(TransportResponse(200, body)).report_twice()
        assert nexts == [None, None]

    async def test_another_refusal_asks_again(self) -> None:
        refused = {"status": 409, "code": "conflict", "message": "no"}
        body = {**observation("1"), "next_suggestion": None, "next_suggestion_refused": refused}
        nexts = await CombinedService(TransportResponse(200, body)).report_twice()
        assert all(isinstance(n, AskNext) for n in nexts)

    async def test_a_suggestion_that_came_with_the_report(self) -> None:
        body = {**observation("1"), "next_suggestion": suggestion("9")}
        nexts = await CombinedService(TransportResponse(200, body)).report_twice()
        assert [n.id for n in nexts if isinstance(n, Suggestion)] == ["9", "9"]
