"""Flags of `python -m sigopt_service` that change what the API answers, on a real process."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.support.service_process import ServiceProcess

EXPERIMENT = {
    "name": "flags",
    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
    "observation_budget": 10,
}


async def observe_twice(url: str) -> tuple[int, int, int]:
    """Statuses of two observations of one suggestion, and how many were stored."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/v1/experiments", json=EXPERIMENT) as resp:
            base = f"{url}/v1/experiments/{(await resp.json())['id']}"
        async with session.post(f"{base}/suggestions", json={}) as resp:
            suggestion = (await resp.json())["id"]
        statuses = []
        for value in (1.0, 2.0):
            body = {"suggestion": suggestion, "value": value}
            async with session.post(f"{base}/observations", json=body) as resp:
                statuses.append(resp.status)
        async with session.get(f"{base}/observations") as resp:
            stored = len((await resp.json())["data"])
    return statuses[0], statuses[1], stored


@pytest.mark.parametrize(
    ("flags", "expected"),
    [((), (200, 409, 1)), (("--allow-duplicate-observations",), (200, 200, 2))],
)
async def test_allow_duplicate_observations(
    tmp_path: Path, flags: tuple[str, ...], expected: tuple[int, int, int]
) -> None:
    with ServiceProcess(tmp_path / "s.db", *flags) as service:
        assert await observe_twice(service.url) == expected
