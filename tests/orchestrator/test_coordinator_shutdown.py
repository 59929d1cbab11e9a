"""The coordinator on stop: drains running evaluations, or cancels them when forced."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from orchestrator.client import ServiceClient
from orchestrator.coordinator import (
    ExitReason,
)
from tests.orchestrator.conftest import (
    run,
)
from tests.orchestrator.coordinator_helpers import (
    by_kind_worker,
    new_experiment,
    queue_suggestions,
    wait_until,
)
from tests.support.processes import wait_gone
from workers.subprocess import SubprocessWorker


class TestShutdown:
    """A stop drains running evaluations; a forced stop cancels them without failing them."""

    async def test_stop_drains(self, client: ServiceClient, tmp_path: Path) -> None:
        """1. Start 3 subprocess evaluations of 0.5 s each on a budget of 20.
        2. Set the stop event while they run.
        3. They finish and are reported; no new suggestion is asked; nothing is open."""
        eid = await new_experiment(client, 20)
        worker = SubprocessWorker(
            [
                sys.executable,
                "-c",
                "import time, json; time.sleep(0.5); print(json.dumps({{'value': 1}}))",
            ]
        )
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:

            async def stop_soon() -> None:
                await anyio.sleep(0.2)
                stop.set()

            tg.start_soon(stop_soon)
            summary = await run(
                client, worker, eid, workers=3, stop=stop, drain_s=30, run_dir=tmp_path
            )
        assert summary.reason is ExitReason.STOPPED
        assert summary.stats.completed == 3 and summary.stats.failed == 0
        assert len(await client.observations(eid)) == 3
        assert await client.open_suggestions(eid) == []

    @pytest.mark.parametrize("on_stop", ["leave_open", "delete"])
    async def test_force_cancels_and_never_reports_failed(
        self, client: ServiceClient, tmp_path: Path, on_stop: str
    ) -> None:
        """1. Start 3 hanging subprocess evaluations (each with a grandchild).
        2. Stop, then force: the evaluations are cancelled, their process groups killed.
        3. Nothing is reported; the suggestions are left open or deleted per `on_stop`."""
        kinds = ["hang", "ok"]
        eid = await new_experiment(client, 3, kind=kinds)
        await queue_suggestions(client, eid, [{"x": 0.5, "kind": "hang"}] * 3)
        pids = tmp_path / "pids.txt"
        worker = by_kind_worker(pids, kill_grace_s=0.5)
        stop, force = anyio.Event(), anyio.Event()
        async with anyio.create_task_group() as tg:

            async def stop_then_force() -> None:
                await wait_until(lambda: pids.exists() and len(pids.read_text().split()) >= 6)
                stop.set()
                await anyio.sleep(0.1)
                force.set()

            tg.start_soon(stop_then_force)
            summary = await run(
                client,
                worker,
                eid,
                workers=3,
                stop=stop,
                force=force,
                run_dir=tmp_path,
                on_stop=on_stop,
            )
        assert summary.reason is ExitReason.STOPPED
        assert summary.stats.failed == 0 and await client.observations(eid) == []
        open_now = await client.open_suggestions(eid)
        assert len(open_now) == (3 if on_stop == "leave_open" else 0)
        for pid in map(int, pids.read_text().split()):
            await wait_gone(pid)
