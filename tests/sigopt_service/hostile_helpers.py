"""Shared helpers for the hostile-input tests: raw requests, error bodies, request bodies."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from sigopt_service.errors import CODES

PARAMS: list[dict[str, Any]] = [
    {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
    {"name": "n", "type": "int", "bounds": {"min": 1, "max": 5}},
    {"name": "c", "type": "categorical", "categorical_values": ["a", "b"]},
]
JSON = {"Content-Type": "application/json"}


async def send(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    async with http.request(
        method, url, data=raw, headers=JSON if headers is None else headers
    ) as resp:
        return resp.status, await resp.text()


def message_of(text: str) -> str:
    body = json.loads(text)
    # SigOpt's `message` and `status`, plus the key path and a stable code (errors.CODES).
    assert set(body) == {"message", "status", "field", "code"}, body
    assert body["code"] in CODES, body
    return str(body["message"])


async def assert_still_serving(http: aiohttp.ClientSession, url: str) -> None:
    base = url.split("/v1/")[0]
    status, text = await send(http, "GET", f"{base}/v1/experiments?state=all")
    assert status == 200, text


def experiment(**changes: Any) -> bytes:
    return json.dumps({"name": "e", "parameters": PARAMS, **changes}).encode()


def parameter(**fields: Any) -> bytes:
    return json.dumps({"name": "e", "parameters": [{"name": "p", **fields}]}).encode()
