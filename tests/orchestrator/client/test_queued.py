"""ServiceClient.queue_suggestions: a new experiment's first assignments, queued in order,
each exactly once when an attempt's answer is lost (the real service behind a proxy)."""

from __future__ import annotations

import anyio
import pytest

from orchestrator.client import RetryPolicy, ServiceClient
from orchestrator.errors import ServiceRejected
from tests.orchestrator.conftest import experiment_body
from tests.support.fault_proxy import FaultKind, FaultProxy, ScriptedFaults

FAST_RETRY = RetryPolicy(max_attempts=10, max_total_s=30, initial_backoff_s=0.001)
ENTRIES = [{"x": 0.1}, {"x": 0.2}, {"x": 0.3}]


class TestQueueSuggestions:
    """Entries are queued in order and served in order; a lost answer queues nothing twice."""

    async def test_in_order_and_served_first(self, service_url: str) -> None:
        async with ServiceClient(service_url, retry=FAST_RETRY) as client:
            eid = (await client.create_experiment(experiment_body(5))).id
            queued = await client.queue_suggestions(eid, ENTRIES)
            assert [q.assignments for q in queued] == ENTRIES
            assert [int(q.id) for q in queued] == sorted(int(q.id) for q in queued)
            served = [(await client.suggest(eid)).assignments for _ in ENTRIES]
            assert served == ENTRIES

    @pytest.mark.parametrize(
        "faults",
        [["drop_after", None, "drop_after"], ["drop_before", "drop_after", "drop_after"]],
    )
    async def test_lost_answers_queue_each_once(
        self, service_url: str, faults: list[FaultKind | None]
    ) -> None:
        """1. Each POST whose answer is lost (the service queued it) or that never got
        there is retried. 2. The retry lists the queue first and adopts what landed.
        3. The queue holds each entry once, in order."""
        plan = ScriptedFaults(("POST", r"/queued_suggestions$", faults))
        async with (
            FaultProxy(service_url, plan=plan) as proxy,
            ServiceClient(proxy.url, retry=FAST_RETRY) as client,
        ):
            eid = (await client.create_experiment(experiment_body(5))).id
            with anyio.fail_after(20):
                queued = await client.queue_suggestions(eid, ENTRIES)
            assert plan.is_exhausted
        assert [q.assignments for q in queued] == ENTRIES
        async with ServiceClient(service_url, retry=FAST_RETRY) as direct:
            served = [(await direct.suggest(eid)).assignments for _ in range(4)]
        assert served[:3] == ENTRIES and served[3] not in ENTRIES

    async def test_an_entry_the_experiment_refuses(self, service_url: str) -> None:
        """A 400 names the key; the entries before it stay queued."""
        async with ServiceClient(service_url, retry=FAST_RETRY) as client:
            eid = (await client.create_experiment(experiment_body(5))).id
            with pytest.raises(ServiceRejected) as refused:
                await client.queue_suggestions(eid, [{"x": 0.5}, {"y": 1}])
            assert refused.value.status == 400
            assert refused.value.field == "assignments.y"
            assert (await client.suggest(eid)).assignments == {"x": 0.5}
