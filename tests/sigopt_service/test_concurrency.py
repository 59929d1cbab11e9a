"""Concurrent requests on one experiment get distinct open points and never corrupt state."""

from __future__ import annotations

import json

import aiohttp
import anyio
import pytest


@pytest.mark.parametrize("exp_type", ["offline", "random"])
async def test_concurrent_suggestions_are_distinct(service_url: str, exp_type: str) -> None:
    body = {
        "name": "c",
        "type": exp_type,
        "observation_budget": 100,
        "parameters": [
            {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
            {"name": "y", "type": "double", "bounds": {"min": 0, "max": 1}},
        ],
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{service_url}/v1/experiments", data=json.dumps(body)) as r:
            base = f"{service_url}/v1/experiments/{(await r.json())['id']}"
        # Some history first, so the Bayesian engine is past its random start-up.
        for i in range(12):
            async with http.post(f"{base}/suggestions") as r:
                s = await r.json()
            async with http.post(
                f"{base}/observations",
                data=json.dumps({"suggestion": s["id"], "value": s["assignments"]["x"] - i * 0.01}),
            ) as r:
                assert r.status == 200
        got: list[dict[str, float]] = []

        async def ask() -> None:
            async with http.post(f"{base}/suggestions") as r:
                assert r.status == 200
                got.append((await r.json())["assignments"])

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for _ in range(16):
                    tg.start_soon(ask)
        points = {(a["x"], a["y"]) for a in got}
        assert len(points) == 16
        async with http.get(f"{base}/suggestions?state=open&limit=0") as r:
            assert (await r.json())["count"] == 16
        async with http.get(base) as r:
            assert (await r.json())["progress"]["observation_count"] == 12
