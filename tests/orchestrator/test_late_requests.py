"""Requests that reach the service after the client gave up on them never count twice.

Each scenario delays one request in a proxy past the client's request timeout, so the
client retries while the first attempt is still on its way: the ambiguous case that a
check-before-resend cannot close on its own.
"""

from __future__ import annotations

import anyio

from orchestrator.client import ServiceClient
from orchestrator.coordinator import ExitReason
from sigopt_service.models import MetricEvaluation
from tests.orchestrator.conftest import (
    assert_exactly_budget,
    experiment_body,
    late_first_request,
    run,
)
from workers.async_function import AsyncFunctionWorker


class TestLateObservation:
    """A late first POST of an observation is refused (409) and the client returns the
    observation its retry stored: one observation per suggestion."""

    async def test_one_observation(self, service_url: str) -> None:
        async with late_first_request(service_url, r"/observations$") as client:
            eid = (await client.create_experiment(experiment_body(5))).id
            s = await client.suggest(eid)
            with anyio.fail_after(20):
                got = await client.observe(
                    eid, s.id, values=[MetricEvaluation(name="value", value=1.0)]
                )
                await anyio.sleep(1.2)  # the delayed first attempt arrives now
            assert got.suggestion == s.id
        async with ServiceClient(service_url) as direct:
            observations = await direct.observations(eid)
            assert [o.suggestion for o in observations] == [s.id]


class TestLateSuggestion:
    """A late suggest leaves an orphan the run deletes: exactly the budget, nothing open,
    also when a later run resumes."""

    async def test_orphan_is_cleaned_and_budget_holds(self, service_url: str) -> None:
        async with late_first_request(service_url, r"/suggestions$") as client:
            eid = (await client.create_experiment(experiment_body(3))).id
            worker = AsyncFunctionWorker("tests.orchestrator.objectives:sleepy")
            with anyio.fail_after(30):
                summary = await run(client, worker, eid, workers=1, run_id="late")
                await anyio.sleep(1.2)  # in case the orphan lands after the run
                again = await run(client, worker, eid, workers=1, run_id="late")
            assert summary.reason is ExitReason.BUDGET_REACHED
            assert again.reason is ExitReason.BUDGET_REACHED
        async with ServiceClient(service_url) as direct:
            await assert_exactly_budget(direct, eid, 3)


class TestRejectedObservation:
    """A suggestion deleted by someone else mid-run frees its budget slot: the run still
    ends with exactly the budget stored."""

    async def test_budget_still_reached(self, client: ServiceClient) -> None:
        eid = (await client.create_experiment(experiment_body(8))).id
        deleted = anyio.Event()

        async def delete_one_open() -> None:
            while not deleted.is_set():
                opened = await client.open_suggestions(eid)
                if opened:
                    await client.delete_suggestion(eid, opened[0].id)
                    deleted.set()
                await anyio.sleep(0.001)

        worker = AsyncFunctionWorker("tests.orchestrator.objectives:sleepy")
        async with anyio.create_task_group() as tg:
            tg.start_soon(delete_one_open)
            with anyio.fail_after(30):
                summary = await run(client, worker, eid, workers=2, run_id="rejected")
        assert summary.stats.rejected == 1
        await assert_exactly_budget(client, eid, 8)
