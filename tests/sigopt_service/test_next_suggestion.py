"""Our extension: `POST .../observations` with `next_suggestion` stores the observation and
creates the next suggestion in the same call."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from sigopt_service.engine import Engine

PARAMETERS = [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}]


async def _experiment(http: aiohttp.ClientSession, url: str, budget: int) -> str:
    body = {"name": "n", "type": "random", "parameters": PARAMETERS, "observation_budget": budget}
    async with http.post(f"{url}/v1/experiments", data=json.dumps(body)) as r:
        assert r.status == 200, await r.text()
        return f"{url}/v1/experiments/{(await r.json())['id']}"


async def _post(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], query: str = ""
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{url}{query}", data=json.dumps(body)) as r:
        return r.status, await r.json()


async def _open_count(http: aiohttp.ClientSession, base: str) -> int:
    async with http.get(f"{base}/suggestions?state=open&limit=0") as r:
        count: int = (await r.json())["count"]
        return count


async def _observation_count(http: aiohttp.ClientSession, base: str) -> int:
    async with http.get(f"{base}/observations?limit=0") as r:
        count: int = (await r.json())["count"]
        return count


async def test_observation_and_next_suggestion_in_one_call(service_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        base = await _experiment(http, service_url, 10)
        status, first = await _post(http, f"{base}/suggestions", {})
        assert status == 200
        status, answer = await _post(
            http,
            f"{base}/observations",
            {"suggestion": first["id"], "value": 1.5, "next_suggestion": {"metadata": {"k": "v"}}},
            "?within_budget=true",
        )
        assert status == 200, answer
        assert answer["suggestion"] == first["id"] and answer["value"] == 1.5
        following = answer["next_suggestion"]
        assert following["state"] == "open" and following["metadata"] == {"k": "v"}
        assert following["id"] != first["id"] and "next_suggestion_refused" not in answer
        # Never one more open suggestion than before: the observed one closed, one opened.
        assert await _open_count(http, base) == 1
        async with http.get(f"{base}/suggestions/{following['id']}") as r:
            assert (await r.json())["state"] == "open"
        # Without the field, the answer is SigOpt's observation, unchanged.
        status, plain = await _post(
            http, f"{base}/observations", {"suggestion": following["id"], "value": 2.0}
        )
        assert status == 200 and "next_suggestion" not in plain


async def test_full_budget_stores_the_observation_and_refuses_the_suggestion(
    service_url: str,
) -> None:
    async with aiohttp.ClientSession() as http:
        base = await _experiment(http, service_url, 1)
        _, first = await _post(http, f"{base}/suggestions", {})
        status, answer = await _post(
            http,
            f"{base}/observations",
            {"suggestion": first["id"], "value": 1.0, "next_suggestion": {}},
            "?within_budget=true",
        )
        assert status == 200
        assert answer["next_suggestion"] is None
        assert answer["next_suggestion_refused"]["status"] == 409
        assert "budget" in answer["next_suggestion_refused"]["message"]
        assert await _observation_count(http, base) == 1
        assert await _open_count(http, base) == 0


@pytest.mark.parametrize(
    ("body_extra", "query", "named"),
    [
        ({"next_suggestion": {"metadata": {"k" * 101: 1}}}, "", "next_suggestion.metadata"),
        ({"next_suggestion": {"assignments": {"x": 0.5}}}, "", "next_suggestion"),
        ({"next_suggestion": "soon"}, "", "next_suggestion"),
        ({}, "?within_budget=true", "within_budget"),
    ],
)
async def test_bad_requests_store_nothing(
    service_url: str, body_extra: dict[str, Any], query: str, named: str
) -> None:
    async with aiohttp.ClientSession() as http:
        base = await _experiment(http, service_url, 10)
        _, first = await _post(http, f"{base}/suggestions", {})
        status, answer = await _post(
            http,
            f"{base}/observations",
            {"suggestion": first["id"], "value": 1, **body_extra},
            query,
        )
        assert status == 400 and named in answer["message"], answer
        assert await _observation_count(http, base) == 0
        assert await _open_count(http, base) == 1


async def test_not_in_a_batch(service_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        base = await _experiment(http, service_url, 10)
        _, first = await _post(http, f"{base}/suggestions", {})
        item = {"suggestion": first["id"], "value": 1, "next_suggestion": {}}
        status, answer = await _post(http, f"{base}/observations/batch", {"observations": [item]})
        assert status == 400 and "next_suggestion" in answer["message"]
        assert await _observation_count(http, base) == 0


async def test_an_engine_error_keeps_the_observation(
    service_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with aiohttp.ClientSession() as http:
        base = await _experiment(http, service_url, 10)
        _, first = await _post(http, f"{base}/suggestions", {})

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret internals")

        monkeypatch.setattr(Engine, "propose", broken)
        status, answer = await _post(
            http,
            f"{base}/observations",
            {"suggestion": first["id"], "value": 1, "next_suggestion": {}},
        )
        assert status == 200 and answer["next_suggestion"] is None
        refused = answer["next_suggestion_refused"]
        assert refused["status"] == 500 and "secret" not in refused["message"]
        assert await _observation_count(http, base) == 1
