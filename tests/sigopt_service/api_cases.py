"""Shared HTTP helpers and cases for the API error tests: PARAMS, call, refusal, bad
bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from sigopt.exception import ApiException
from sigopt.ratelimit import failed_status_rate_limit

PARAMS = [
    {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
    {"name": "n", "type": "int", "bounds": {"min": 1, "max": 5}},
    {"name": "c", "type": "categorical", "categorical_values": ["a", "b"]},
]


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    async with session.request(method, url, data=data, headers=headers) as resp:
        text = await resp.text()
        return resp.status, (json.loads(text) if text else None)


def refused_body(call: Callable[..., object]) -> dict[str, Any]:
    """The body of the 400 the official client gets for `call()`."""
    with pytest.raises(ApiException) as info:
        call()
    failed_status_rate_limit.clear()  # expected 4xx: keep the client from backing off
    assert info.value.status_code == 400, info.value
    body: dict[str, Any] = info.value.to_json()
    return body


def refusal(call: Callable[[], object]) -> tuple[str | None, str | None, str]:
    """(field, code, message) of the 400 the official client gets for `call()`."""
    body = refused_body(call)
    return body.get("field"), body.get("code"), body["message"]


# (method, path suffix under the experiment or "/v1/..." absolute, body, status, fragment)
EXPERIMENT_CREATE_CASES = [
    ({"parameters": PARAMS}, "`name`"),
    ({"name": "e"}, "`parameters`"),
    ({"name": "e", "parameters": []}, "at least one parameter"),
    ({"name": "e", "parameters": PARAMS, "foo": 1}, "`foo`"),
    ({"name": "", "parameters": PARAMS}, "`name`"),
    (
        {
            "name": "e",
            "parameters": [{"name": "x", "type": "float", "bounds": {"min": 0, "max": 1}}],
        },
        "parameters[0].type",
    ),
    ({"name": "e", "parameters": [{"name": "x", "type": "double"}]}, "must have `bounds`"),
    (
        {
            "name": "e",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 2, "max": 1}}],
        },
        "parameters[0].bounds",
    ),
    (
        {
            "name": "e",
            "parameters": [{"name": "x", "type": "int", "bounds": {"min": 0.5, "max": 3}}],
        },
        "parameters[0].bounds",
    ),
    (
        {
            "name": "e",
            "parameters": [
                {
                    "name": "x",
                    "type": "double",
                    "transformation": "log",
                    "bounds": {"min": 0, "max": 1},
                }
            ],
        },
        "log",
    ),
    (
        {
            "name": "e",
            "parameters": [
                {
                    "name": "x",
                    "type": "int",
                    "transformation": "log",
                    "bounds": {"min": 1, "max": 3},
                }
            ],
        },
        "x",
    ),
    (
        {
            "name": "e",
            "parameters": [{"name": "c", "type": "categorical", "categorical_values": ["a"]}],
        },
        "at least 2",
    ),
    (
        {
            "name": "e",
            "parameters": [{"name": "c", "type": "categorical", "categorical_values": ["a", "a"]}],
        },
        "Duplicate",
    ),
    (
        {
            "name": "e",
            "parameters": [
                {
                    "name": "c",
                    "type": "categorical",
                    "categorical_values": ["a", "b"],
                    "grid": [1, 2],
                }
            ],
        },
        "grid",
    ),
    ({"name": "e", "parameters": [PARAMS[0], PARAMS[0]]}, "Duplicate parameter names: x"),
    (
        {
            "name": "e",
            "parameters": PARAMS,
            "metrics": [{"name": "o"}, {"name": "m", "strategy": "constraint"}],
            "observation_budget": 5,
        },
        "threshold",
    ),
    (
        {"name": "e", "parameters": PARAMS, "metrics": [{"name": "m", "threshold": 1.0}]},
        "Thresholds are only supported",
    ),
    (
        {
            "name": "e",
            "parameters": PARAMS,
            "metrics": [{"name": "m"}, {"name": "s", "strategy": "store", "threshold": 1}],
            "observation_budget": 5,
        },
        "Thresholds cannot be specified on stored metrics",
    ),
    ({"name": "e", "parameters": PARAMS, "metrics": ["a", "b"]}, "observation_budget is required"),
    (
        {"name": "e", "parameters": PARAMS, "metrics": ["a", "b", "c"], "observation_budget": 9},
        "at most 2 optimized",
    ),
    ({"name": "e", "parameters": PARAMS, "metrics": ["a", "a"]}, "Duplicate metric"),
    ({"name": "e", "parameters": PARAMS, "type": "grid", "observation_budget": 4}, "grid"),
    ({"name": "e", "parameters": PARAMS, "type": "sideways"}, "`type`"),
    ({"name": "e", "parameters": PARAMS, "parallel_bandwidth": 0}, "parallel_bandwidth"),
    ({"name": "e", "parameters": PARAMS, "observation_budget": "ten"}, "observation_budget"),
    ({"name": "e", "parameters": PARAMS, "metadata": {"k": [1]}}, "metadata.k"),
    ({"name": "e", "parameters": PARAMS, "metadata": {"k": "v" * 501}}, "metadata.k"),
]
