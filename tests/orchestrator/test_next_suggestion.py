"""One request per evaluation: the outcome reported and the slot's next suggestion asked
together (`report_and_ask`), exactly once; when the next suggestion did not come with the
report, `AskNext` says how to ask for it without making a second."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from aiohttp import web

from orchestrator.client import REQUEST_KEY, AskNext, RetryPolicy, ServiceClient
from orchestrator.coordinator import Coordinator, CoordinatorSettings, ExitReason
from orchestrator.errors import ServiceRejected
from orchestrator.journal import ReportJournal
from sigopt_service.models import MetricEvaluation, Suggestion
from tests.orchestrator.conftest import (
    assert_exactly_budget,
    experiment_body,
    late_first_request,
    run,
)
from tests.support.fault_proxy import FaultProxy, ScriptedFaults
from workers.async_function import AsyncFunctionWorker

ONE = [MetricEvaluation(name="value", value=1.0)]


def _leaves(group: BaseExceptionGroup[ServiceRejected]) -> list[ServiceRejected]:
    out: list[ServiceRejected] = []
    for exc in group.exceptions:
        out += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return out


def posts(proxy: FaultProxy, path_end: str) -> int:
    return sum(
        1 for r in proxy.requests if r.method == "POST" and r.path.split("?")[0].endswith(path_end)
    )


class WithoutTheExtension(FaultProxy):
    """A SigOpt-compatible service that does not know `next_suggestion`: it ignores it."""

    carried = 0  # requests that asked for a next suggestion

    async def _forward(self, request: web.Request) -> web.Response:
        if request.method == "POST" and request.path.endswith("/observations"):
            body = json.loads(await request.read())
            if body.pop("next_suggestion", None) is not None:
                self.carried += 1
            assert self._session is not None
            async with self._session.post(
                self.upstream_url + request.path, data=json.dumps(body)
            ) as upstream:
                self.forwarded += 1
                return web.Response(status=upstream.status, body=await upstream.read())
        return await super()._forward(request)


async def ask_next(client: ServiceClient, eid: str, following: AskNext) -> Suggestion:
    """Follow an `AskNext` as the coordinator does: `suggest` with its key."""
    return await client.suggest(
        eid, request_key=following.request_key, maybe_created=following.maybe_created
    )


class TestReportAndAsk:
    async def test_one_request_stores_both(self, service_url: str) -> None:
        async with FaultProxy(service_url) as proxy, ServiceClient(proxy.url) as client:
            eid = (await client.create_experiment(experiment_body(5))).id
            first = await client.suggest(eid)
            before = len(proxy.requests)
            reported = await client.report_and_ask(
                eid, first.id, values=ONE, next_metadata={"worker_slot": 3}, within_budget=True
            )
            assert len(proxy.requests) == before + 1
            assert reported.observation is not None
            assert reported.observation.suggestion == first.id
            following = reported.next
            assert isinstance(following, Suggestion) and following.metadata is not None
            assert following.metadata["worker_slot"] == 3 and REQUEST_KEY in following.metadata
            assert [s.id for s in await client.open_suggestions(eid)] == [following.id]

    async def test_full_budget_gives_no_next(self, client: ServiceClient) -> None:
        eid = (await client.create_experiment(experiment_body(1))).id
        first = await client.suggest(eid)
        reported = await client.report_and_ask(eid, first.id, values=ONE, within_budget=True)
        assert reported.next is None and reported.observation is not None
        assert reported.observation.suggestion == first.id
        assert await client.open_suggestions(eid) == []

    async def test_a_late_combined_request_counts_once(self, service_url: str) -> None:
        """1. The combined request is delayed past the client's timeout.
        2. The client falls back to observe, and says the suggestion may exist.
        3. When it lands late it is refused (409): one observation, one open suggestion."""
        async with late_first_request(service_url, r"/observations") as client:
            eid = (await client.create_experiment(experiment_body(5))).id
            first = await client.suggest(eid)
            with anyio.fail_after(20):
                reported = await client.report_and_ask(eid, first.id, values=ONE)
                assert isinstance(reported.next, AskNext) and reported.next.maybe_created
                following = await ask_next(client, eid, reported.next)
                await anyio.sleep(1.2)  # the delayed first attempt arrives now
        async with ServiceClient(service_url) as direct:
            assert [o.suggestion for o in await direct.observations(eid)] == [first.id]
            assert [s.id for s in await direct.open_suggestions(eid)] == [following.id]

    async def test_a_service_without_the_extension(self, service_url: str) -> None:
        """The client notices once, then makes the two calls; nothing is stored twice."""
        async with (
            WithoutTheExtension(service_url) as proxy,
            ServiceClient(proxy.url) as client,
        ):
            eid = (await client.create_experiment(experiment_body(5))).id
            suggestion = await client.suggest(eid)
            for _ in range(3):
                reported = await client.report_and_ask(eid, suggestion.id, values=ONE)
                assert isinstance(reported.next, AskNext) and not reported.next.maybe_created
                suggestion = await ask_next(client, eid, reported.next)
            # Only the first report asked for a next suggestion; each was one POST.
            assert proxy.carried == 1
            assert posts(proxy, "/observations") == 3
            assert posts(proxy, "/suggestions") == 1 + 3
            observed = [o.suggestion for o in await client.observations(eid)]
            assert len(observed) == len(set(observed)) == 3
            assert [s.id for s in await client.open_suggestions(eid)] == [suggestion.id]

    async def test_observe_finds_an_observation_that_got_there_first(
        self, client: ServiceClient
    ) -> None:
        """A 409 (the suggestion was observed by a request of ours that landed late) returns
        that observation instead of failing the report."""
        eid = (await client.create_experiment(experiment_body(5))).id
        s = await client.suggest(eid)
        landed = await client.observe(eid, s.id, values=ONE)
        again = await client.observe(eid, s.id, values=ONE)
        assert again.id == landed.id
        assert len(await client.observations(eid)) == 1


class TestCoordinator:
    async def test_one_request_per_evaluation(self, service_url: str) -> None:
        async with FaultProxy(service_url) as proxy, ServiceClient(proxy.url) as client:
            eid = (await client.create_experiment(experiment_body(12))).id
            worker = AsyncFunctionWorker("tests.orchestrator.objectives:constant")
            summary = await run(client, worker, eid, workers=3)
            assert summary.reason is ExitReason.BUDGET_REACHED
            assert posts(proxy, "/observations") == 12
            assert posts(proxy, "/suggestions") == 3  # only each slot's first
            await assert_exactly_budget(client, eid, 12)

    async def test_a_stop_during_the_request_deletes_the_next_suggestion(
        self, service_url: str
    ) -> None:
        """1. The report (with its next suggestion) is delayed 0.5 s.
        2. The run is stopped meanwhile.
        3. The next suggestion arrives after the stop: never started, it is deleted."""
        plan = ScriptedFaults(("POST", r"/observations", ["latency"]))
        async with (
            FaultProxy(service_url, plan=plan, latency_s=0.5) as proxy,
            ServiceClient(proxy.url) as client,
        ):
            eid = (await client.create_experiment(experiment_body(5))).id
            worker = AsyncFunctionWorker("tests.orchestrator.objectives:constant")
            stop = anyio.Event()

            async def stop_during_report() -> None:
                while posts(proxy, "/observations") == 0:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
                stop.set()

            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(stop_during_report)
                    summary = await run(client, worker, eid, workers=1, stop=stop, run_id="r")
            assert summary.reason is ExitReason.STOPPED
            assert summary.stats.completed == 1
            assert len(await client.observations(eid)) == 1
            assert await client.open_suggestions(eid) == []


NO_500_RETRY = RetryPolicy(
    max_attempts=3,
    max_total_s=10,
    initial_backoff_s=0.01,
    max_backoff_s=0.02,
    retry_server_errors=False,
)


class FiveHundredAfterTheWork(FaultProxy):
    """The first combined request reaches the service, then a 500 comes back (as from a
    proxy in between): the work is done, the client cannot know it."""

    hit = False

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if (
            request.method == "POST"
            and request.path.endswith("/observations")
            and not self.hit
            and "next_suggestion" in json.loads(await request.read())
        ):
            self.hit = True
            await self._forward(request)
            return web.json_response({"message": "boom", "status": 500}, status=500)
        return await super()._handle(request)


class SuggestionStoredButRefused(FaultProxy):
    """The first combined request stores both, and the answer says the next suggestion
    was refused with a 500: what the service answers when its COMMIT lost the database
    connection (a PostgreSQL restart) after the suggestion was made durable."""

    hit = False

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if (
            request.method == "POST"
            and request.path.endswith("/observations")
            and not self.hit
            and "next_suggestion" in json.loads(await request.read())
        ):
            self.hit = True
            upstream = await self._forward(request)
            assert upstream.body is not None
            answer = json.loads(bytes(upstream.body))
            answer["next_suggestion"] = None
            answer["next_suggestion_refused"] = {"message": "lost", "status": 500}
            return web.json_response(answer, status=upstream.status)
        return await super()._handle(request)


class NoExtensionThenSuggestFails(WithoutTheExtension):
    """A service without the extension whose plain suggestions answer 500 once armed."""

    armed = False

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST" and request.path.endswith("/suggestions") and self.armed:
            return web.json_response({"message": "engine down", "status": 500}, status=500)
        return await super()._handle(request)


class TestAfterTheReport:
    """What fails after the report was stored is never taken for a failed report."""

    async def test_a_500_after_the_combined_request_makes_no_second_suggestion(
        self, service_url: str
    ) -> None:
        async with (
            FiveHundredAfterTheWork(service_url) as proxy,
            ServiceClient(proxy.url, retry=NO_500_RETRY) as client,
        ):
            eid = (await client.create_experiment(experiment_body(5))).id
            first = await client.suggest(eid)
            reported = await client.report_and_ask(eid, first.id, values=ONE, within_budget=True)
            assert reported.observation is not None
            assert isinstance(reported.next, AskNext) and reported.next.maybe_created
            following = await ask_next(client, eid, reported.next)
            assert [s.id for s in await client.open_suggestions(eid)] == [following.id]
            assert len(await client.observations(eid)) == 1

    async def test_a_next_suggestion_refused_with_a_500_is_looked_for(
        self, service_url: str
    ) -> None:
        """1. The combined request stores the observation and the next suggestion.
        2. The answer says the next suggestion was refused with a 500 (the COMMIT's
           connection was lost: it may have landed).
        3. Asking again adopts the stored one: one open suggestion, not two."""
        async with (
            SuggestionStoredButRefused(service_url) as proxy,
            ServiceClient(proxy.url, retry=NO_500_RETRY) as client,
        ):
            eid = (await client.create_experiment(experiment_body(5))).id
            first = await client.suggest(eid)
            reported = await client.report_and_ask(eid, first.id, values=ONE, within_budget=True)
            assert proxy.hit and reported.observation is not None
            assert isinstance(reported.next, AskNext) and reported.next.maybe_created
            following = await ask_next(client, eid, reported.next)
            assert [s.id for s in await client.open_suggestions(eid)] == [following.id]
            assert len(await client.observations(eid)) == 1

    async def test_the_run_still_reaches_the_budget(self, service_url: str) -> None:
        async with (
            FiveHundredAfterTheWork(service_url) as proxy,
            ServiceClient(proxy.url, retry=NO_500_RETRY) as client,
        ):
            eid = (await client.create_experiment(experiment_body(4))).id
            worker = AsyncFunctionWorker("tests.orchestrator.objectives:constant")
            summary = await run(client, worker, eid, workers=1)
            assert proxy.hit and summary.reason is ExitReason.BUDGET_REACHED
            await assert_exactly_budget(client, eid, 4)

    async def test_a_failing_next_suggestion_neither_rejects_nor_journals_the_report(
        self, service_url: str, tmp_path: Path
    ) -> None:
        """The report is stored, then asking for the next suggestion fails for good: the
        run ends with that error, the report counted as completed and not journaled."""
        async with (
            NoExtensionThenSuggestFails(service_url) as proxy,
            ServiceClient(proxy.url, retry=NO_500_RETRY) as client,
        ):
            eid = (await client.create_experiment(experiment_body(3))).id

            async def objective(assignments: dict[str, Any]) -> float:
                proxy.armed = True  # the first suggestion was made; the next ones fail
                return 1.0

            journal = ReportJournal(tmp_path / "reports.jsonl")
            coordinator = Coordinator(
                client,
                AsyncFunctionWorker(objective),
                experiment_id=eid,
                settings=CoordinatorSettings(workers=1, run_id="r"),
                journal=journal,
            )
            raised: list[ServiceRejected] = []
            with anyio.fail_after(30):
                try:
                    await coordinator.run()
                except* ServiceRejected as group:
                    raised += _leaves(group)
            journal.close()
            assert [e.message for e in raised] == ["engine down"]
            assert len(await client.observations(eid)) == 1
            assert coordinator.stats.completed == 1 and coordinator.stats.rejected == 0
            assert await ReportJournal(tmp_path / "reports.jsonl").pending() == []
