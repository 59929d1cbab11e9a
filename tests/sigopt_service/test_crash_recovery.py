"""kill -9 of the service during a stream of writes loses nothing it acknowledged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.slow

EXPERIMENT = {
    "name": "crash",
    "parameters": [
        {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
        {"name": "y", "type": "int", "bounds": {"min": 0, "max": 9}},
    ],
    "observation_budget": 1000,
}


async def post(session: aiohttp.ClientSession, url: str, body: Any) -> dict[str, Any]:
    async with session.post(url, data=json.dumps(body)) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def get(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


class TestKillNine:
    """Every acknowledged write survives kill -9, and the optimizer continues after restart."""

    async def test_acknowledged_writes_survive(self, tmp_path: Path) -> None:
        """1. Start `python -m sigopt_service` on a fresh SQLite file.
        2. Stream suggest+observe cycles from 4 concurrent writers, recording each 2xx.
        3. kill -9 the service group while writes are in flight.
        4. Restart on the same file: every acknowledged suggestion and observation is there,
           each acknowledged suggestion is closed, and new suggestions keep coming.
        """
        db = tmp_path / "crash.db"
        acked_suggestions: set[str] = set()
        acked_observations: dict[str, str] = {}
        service = ServiceProcess(db)
        url = service.start()
        async with aiohttp.ClientSession() as session:
            exp = await post(session, f"{url}/v1/experiments", EXPERIMENT)
            base = f"{url}/v1/experiments/{exp['id']}"

            enough = anyio.Event()

            async def writer() -> None:
                try:
                    while True:
                        s = await post(session, f"{base}/suggestions", {})
                        acked_suggestions.add(s["id"])
                        o = await post(
                            session,
                            f"{base}/observations",
                            {"suggestion": s["id"], "value": s["assignments"]["x"]},
                        )
                        acked_observations[o["id"]] = s["id"]
                        if len(acked_observations) >= 150:
                            enough.set()
                except (aiohttp.ClientError, AssertionError):
                    return  # the service died under us: expected

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    for _ in range(4):
                        tg.start_soon(writer)
                    await enough.wait()
                    service.kill()
        assert len(acked_observations) >= 150

        with ServiceProcess(db) as restarted:
            async with aiohttp.ClientSession() as session:
                base = f"{restarted.url}/v1/experiments/{exp['id']}"
                stored: dict[str, str] = {}
                page = await get(session, f"{base}/observations?limit=1000")
                for o in page["data"]:
                    stored[o["id"]] = o["suggestion"]
                for oid, sid in acked_observations.items():
                    assert stored.get(oid) == sid, f"acknowledged observation {oid} lost"
                for sid in acked_suggestions:
                    s = await get(session, f"{base}/suggestions/{sid}")
                    assert s["id"] == sid
                    if sid in acked_observations.values():
                        assert s["state"] == "closed"
                # The optimizer rebuilds from the store and goes on.
                s = await post(session, f"{base}/suggestions", {})
                await post(session, f"{base}/observations", {"suggestion": s["id"], "value": 0.5})
                e = await get(session, base)
                assert e["progress"]["observation_count"] == len(stored) + 1
