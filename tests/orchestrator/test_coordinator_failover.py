"""Whole runs over several service URLs (issue 17, item 3): a dead first URL, and answers
lost behind 502s on both URLs, still end with exactly the budget, nothing observed twice."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
from structlog.testing import capture_logs

from orchestrator.client import ServiceClient
from orchestrator.config import parse_config
from orchestrator.coordinator import ExitReason
from orchestrator.runner import run_job
from tests.orchestrator.conftest import (
    FAST_RETRY,
    StoresDuplicateObservations,
    assert_exactly_budget,
    run,
)
from tests.orchestrator.coordinator_helpers import OBJ, new_experiment
from tests.orchestrator.failover_helpers import LossyGateway, closed_port_url, every_nth
from workers.async_function import AsyncFunctionWorker


async def test_dead_first_url_run_is_exact(service_url: str) -> None:
    """1. The first URL refuses connections. 2. A 4-worker run of budget 20 fails over to
    the second at its first request. 3. Exactly 20 observations, none open."""
    dead = closed_port_url()
    async with ServiceClient([dead, service_url], retry=FAST_RETRY) as client:
        eid = await new_experiment(client, 20)
        summary = await run(client, AsyncFunctionWorker(f"{OBJ}:sleepy"), eid, workers=4)
        assert summary.reason is ExitReason.BUDGET_REACHED
        assert client.base_url == service_url
    async with ServiceClient(service_url) as direct:
        await assert_exactly_budget(direct, eid, 20)


class TestLostAnswersOnBothUrls(StoresDuplicateObservations):
    """Gateway A loses every 4th write's answer behind a 502, gateway B every 5th: the run
    goes back and forth between them, and the service stores whatever it is sent twice,
    so only the client's checks (on the URL it switched to) keep the count exact."""

    async def test_run_is_exact(self, service_url: str) -> None:
        with capture_logs() as logs:
            async with (
                LossyGateway(service_url, every_nth(4, "POST")) as a,
                LossyGateway(service_url, every_nth(5, "POST")) as b,
                ServiceClient([a.url, b.url], retry=FAST_RETRY) as client,
            ):
                eid = await new_experiment(client, 30)
                summary = await run(client, AsyncFunctionWorker(f"{OBJ}:sleepy"), eid, workers=5)
                assert summary.reason is ExitReason.BUDGET_REACHED
                assert a.lost >= 3 and b.lost >= 3
        switches = [e for e in logs if e["event"] == "service_failover"]
        assert {(e["from_url"], e["to_url"]) for e in switches} == {
            (a.url, b.url),
            (b.url, a.url),
        }
        async with ServiceClient(service_url) as direct:
            await assert_exactly_budget(direct, eid, 30)


async def test_run_job_with_a_url_list(tmp_path: Path, service_url: str) -> None:
    """`service.url: [dead, live]`: the run completes on the live one, prints it (the
    Explore line's URL) and reports it, and `state.json` records the first URL of the
    list, so that the same config finds its experiment again."""
    dead = closed_port_url()
    config = parse_config(
        {
            "service": {"url": [dead, service_url]},
            "experiment": {
                "name": "failover",
                "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
                "observation_budget": 12,
            },
            "workers": {"kind": "async", "count": 3, "function": f"{OBJ}:sleepy"},
            "retry": {"initial_backoff_s": 0.001, "max_backoff_s": 0.01},
            "run": {"dir": str(tmp_path / "runs"), "name": "failover"},
        },
        source=tmp_path / "failover.yaml",
    )
    started: list[str] = []
    with anyio.fail_after(60):
        result = await run_job(config, on_start=lambda eid, url: started.append(url))
    assert result.summary.reason is ExitReason.BUDGET_REACHED
    assert (started, result.service_url) == ([service_url], service_url)
    state = json.loads((tmp_path / "runs" / "failover" / "state.json").read_text())
    assert state["service"] == dead
    async with ServiceClient(service_url) as direct:
        await assert_exactly_budget(direct, result.summary.experiment_id, 12)
