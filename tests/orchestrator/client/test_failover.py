"""`ServiceClient` over several URLs (issue 17, item 3): on a connection error or a 5xx it
goes on to the next URL and stays there; its writes stay exactly-once across the switch,
because the check after an ambiguous failure asks the new URL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from orchestrator.client import AskNext, RetryPolicy, ServiceClient
from orchestrator.transport import MockTransport, TransportResponse
from sigopt_service.models import MetricEvaluation, Suggestion
from tests.orchestrator.conftest import StoresDuplicateObservations, experiment_body
from tests.orchestrator.failover_helpers import LossyGateway, closed_port_url, first_n
from tests.support.fault_proxy import FaultProxy, ScriptedFaults

EXPERIMENT_BODY = experiment_body(10)
FAST_RETRY = RetryPolicy(
    max_attempts=8, max_total_s=20, initial_backoff_s=0.001, max_backoff_s=0.01
)


def _failovers(logs: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    return [(e["from_url"], e["to_url"]) for e in logs if e["event"] == "service_failover"]


class TestSwitching:
    async def test_refused_connection_goes_to_the_next_url_and_stays(
        self, service_url: str
    ) -> None:
        """1. The first URL refuses connections. 2. The first call succeeds on the second
        URL, logged once with both URLs. 3. Later calls go there directly."""
        dead = closed_port_url()
        with capture_logs() as logs:
            async with ServiceClient([dead, service_url], retry=FAST_RETRY) as client:
                assert client.base_urls == (dead, service_url)
                with anyio.fail_after(10):
                    experiment = await client.create_experiment(EXPERIMENT_BODY)
                    for _ in range(3):
                        await client.get_experiment(experiment.id)
                assert client.base_url == service_url
        assert _failovers(logs) == [(dead, service_url)]

    async def test_5xx_goes_to_the_next_url_and_sticks_to_it(self, service_url: str) -> None:
        """1. Proxy A answers one 502; B passes everything. 2. The call is retried on B.
        3. Every later call goes to B although A works again."""
        plan = ScriptedFaults(("GET", r"/experiments/\d+$", ["error_502"]))
        async with (
            FaultProxy(service_url, plan=plan) as a,
            FaultProxy(service_url) as b,
            ServiceClient([a.url, b.url], retry=FAST_RETRY) as client,
        ):
            with anyio.fail_after(10):
                experiment = await client.create_experiment(EXPERIMENT_BODY)
                with capture_logs() as logs:
                    for _ in range(4):
                        await client.get_experiment(experiment.id)
            assert client.base_url == b.url
            assert [r.fault for r in a.requests] == [None, "error_502"]
            assert len(b.requests) == 4
        assert _failovers(logs) == [(a.url, b.url)]

    async def test_round_robin_wraps_to_the_first_url(self, service_url: str) -> None:
        """A fails (502), then B fails (503): the third attempt is on A again."""
        a_plan = ScriptedFaults(("GET", r"/experiments/\d+$", ["error_502"]))
        b_plan = ScriptedFaults(("GET", r"/experiments/\d+$", ["error_503"]))
        async with (
            FaultProxy(service_url, plan=a_plan) as a,
            FaultProxy(service_url, plan=b_plan) as b,
            ServiceClient([a.url, b.url], retry=FAST_RETRY) as client,
        ):
            with anyio.fail_after(10):
                experiment = await client.create_experiment(EXPERIMENT_BODY)
                with capture_logs() as logs:
                    await client.get_experiment(experiment.id)
            assert client.base_url == a.url
        assert _failovers(logs) == [(a.url, b.url), (b.url, a.url)]

    async def test_429_retries_on_the_same_url(self, service_url: str) -> None:
        """A 429 is the service alive and pacing us: no reason to leave it."""
        plan = ScriptedFaults(("GET", r"/experiments/\d+$", ["throttle_429"]))
        async with (
            FaultProxy(service_url, plan=plan) as a,
            FaultProxy(service_url) as b,
            ServiceClient([a.url, b.url], retry=FAST_RETRY) as client,
        ):
            with anyio.fail_after(10):
                experiment = await client.create_experiment(EXPERIMENT_BODY)
                await client.get_experiment(experiment.id)
            assert client.base_url == a.url
            assert b.requests == []

    async def test_requests_failing_together_move_once(self, service_url: str) -> None:
        """Eight calls in flight to A all get a 502: the client moves on once, not eight
        times (with two URLs an even number of moves would land back on A)."""
        async with ServiceClient(service_url) as direct:
            experiment_id = (await direct.create_experiment(EXPERIMENT_BODY)).id
        async with (
            FaultProxy(service_url, plan=lambda method, path: "error_502") as a,
            FaultProxy(service_url) as b,
            ServiceClient([a.url, b.url], retry=FAST_RETRY) as client,
        ):
            with anyio.fail_after(10), capture_logs() as logs:
                async with anyio.create_task_group() as tg:
                    for _ in range(8):
                        tg.start_soon(client.get_experiment, experiment_id)
            assert client.base_url == b.url
            # All eight were on A at once, and each was retried once, on B.
            assert (len(a.requests), len(b.requests)) == (8, 8)
        assert _failovers(logs) == [(a.url, b.url)]

    async def test_one_url_logs_no_failover(self, service_url: str) -> None:
        plan = ScriptedFaults(("GET", r"/experiments/\d+$", ["error_502"]))
        async with (
            FaultProxy(service_url, plan=plan) as a,
            ServiceClient(a.url, retry=FAST_RETRY) as client,
        ):
            with anyio.fail_after(10), capture_logs() as logs:
                experiment = await client.create_experiment(EXPERIMENT_BODY)
                await client.get_experiment(experiment.id)
        assert _failovers(logs) == []


class TestExactlyOnceAcrossFailover(StoresDuplicateObservations):
    """The service stores a second observation of a suggestion (as sigopt-server does),
    so only the client keeps a write from counting twice. Gateway A stores each write and
    answers 502; the retry goes to the service directly, and its check finds the write."""

    async def test_observe_after_a_lost_answer_is_not_sent_again(self, service_url: str) -> None:
        async with (
            LossyGateway(service_url, first_n(1, "POST", "/observations")) as a,
            ServiceClient([a.url, service_url], retry=FAST_RETRY) as client,
        ):
            with anyio.fail_after(10):
                eid = (await client.create_experiment(EXPERIMENT_BODY)).id
                suggestion = await client.suggest(eid)
                observation = await client.observe(
                    eid, suggestion.id, values=[MetricEvaluation(name="value", value=0.5)]
                )
                observations = await client.observations(eid)
            assert a.lost == 1
            # The check after the 502 went to the new URL, not to the gateway.
            assert a.requests[-1] == f"POST /v1/experiments/{eid}/observations"
            assert client.base_url == service_url
        assert [o.id for o in observations] == [observation.id]

    async def test_suggest_after_a_lost_answer_adopts_the_suggestion(
        self, service_url: str
    ) -> None:
        async with (
            LossyGateway(service_url, first_n(1, "POST", "/suggestions")) as a,
            ServiceClient([a.url, service_url], retry=FAST_RETRY) as client,
        ):
            with anyio.fail_after(10):
                eid = (await client.create_experiment(EXPERIMENT_BODY)).id
                suggestion = await client.suggest(eid, metadata={"run": "r"})
                open_ = await client.open_suggestions(eid)
            assert a.lost == 1
            assert a.requests[-1] == f"POST /v1/experiments/{eid}/suggestions"
        assert [s.id for s in open_] == [suggestion.id]

    async def test_report_and_ask_after_a_lost_answer(self, service_url: str) -> None:
        """The combined report (observation plus next suggestion) was stored behind a 502:
        the report is found, not re-sent, and the next suggestion it made is adopted."""
        async with (
            LossyGateway(service_url, first_n(1, "POST", "/observations")) as a,
            ServiceClient([a.url, service_url], retry=FAST_RETRY) as client,
        ):
            with anyio.fail_after(10):
                eid = (await client.create_experiment(EXPERIMENT_BODY)).id
                first = await client.suggest(eid)
                reported = await client.report_and_ask(
                    eid, first.id, values=[MetricEvaluation(name="value", value=1.0)]
                )
                assert isinstance(reported.next, AskNext) and reported.next.maybe_created
                following = await client.suggest(
                    eid,
                    request_key=reported.next.request_key,
                    maybe_created=reported.next.maybe_created,
                )
                observations = await client.observations(eid)
                suggestions = await client.suggestions(eid)
            assert a.lost == 1
        assert [o.suggestion for o in observations] == [first.id]
        assert {s.id for s in suggestions} == {first.id, following.id}

    async def test_dropped_connection_after_the_write(self, service_url: str) -> None:
        """The same with no answer at all (the connection closed after the service acted)."""
        plan = ScriptedFaults(("POST", r"/observations$", ["drop_after"]))
        async with (
            FaultProxy(service_url, plan=plan) as a,
            ServiceClient([a.url, service_url], retry=FAST_RETRY) as client,
        ):
            with anyio.fail_after(10):
                eid = (await client.create_experiment(EXPERIMENT_BODY)).id
                suggestion = await client.suggest(eid)
                await client.observe(eid, suggestion.id, values=[MetricEvaluation(value=2.0)])
                observations = await client.observations(eid)
            assert a.injected["drop_after"] == 1
            assert client.base_url == service_url
        assert Counter(o.suggestion for o in observations) == {suggestion.id: 1}


class TestConstruction:
    def test_comma_separated_string_is_several_urls(self) -> None:
        client = ServiceClient("http://a:1/v1, http://b:2/")
        assert client.base_urls == ("http://a:1", "http://b:2")
        assert client.base_url == "http://a:1"

    @pytest.mark.parametrize("urls", [[], "", "http://a:1,", ["http://a:1", " "]])
    def test_no_url_or_an_empty_one_is_refused(self, urls: Any) -> None:
        with pytest.raises(ValueError, match="non-empty service URLs"):
            ServiceClient(urls)

    def test_one_injected_transport_per_url(self) -> None:
        def handler(method: str, path: str, params: Any, json: Any) -> TransportResponse:
            return TransportResponse(200, {})

        with pytest.raises(ValueError, match="1 transport"):
            ServiceClient(["http://a:1", "http://b:2"], transport=MockTransport(handler))

    async def test_injected_transports_fail_over_in_order(self) -> None:
        """Each URL's own transport gets the requests while it is current."""
        suggestion = {"id": "1", "experiment": "7", "assignments": {}}

        def down(method: str, path: str, params: Any, json: Any) -> TransportResponse:
            return TransportResponse(503, {"message": "down"})

        def up(method: str, path: str, params: Any, json: Any) -> TransportResponse:
            return TransportResponse(200, suggestion)

        first, second = MockTransport(down), MockTransport(up)
        async with ServiceClient(["a", "b"], transport=[first, second], retry=FAST_RETRY) as c:
            with anyio.fail_after(5):
                got = await c.get_suggestion("7", "1")
                await c.get_suggestion("7", "1")
        assert isinstance(got, Suggestion)
        assert (len(first.requests), len(second.requests)) == (1, 2)
