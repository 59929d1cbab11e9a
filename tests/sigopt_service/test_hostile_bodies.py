"""Hostile request bodies are a clear 4xx naming the culprit, never a 5xx or a hang."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import anyio
import pytest

from sigopt_service.config import ServiceConfig
from sigopt_service.http import running_service
from tests.sigopt_service.hostile_helpers import (
    assert_still_serving,
    experiment,
    message_of,
    parameter,
    send,
)


# Each answer is a clear 4xx naming the culprit, never a 5xx or a hang, and the service
# keeps serving afterwards. The cases marked "was a 500" failed before the fixes made with
# this suite (see the messages they now expect).
def deep(levels: int) -> bytes:
    return (
        b'{"name": "e", "parameters": [], "metadata": {"k": '
        + b"[" * levels
        + b"]" * levels
        + b"}}"
    )


# (id, path under /v1 (`{exp}` is the fixture's experiment), raw body, status, fragment)
BODY_CASES: list[tuple[str, str, bytes, int, str]] = [
    ("deep_json", "/experiments", deep(50), 400, "nested deeper than 32 levels (at `metadata.k["),
    ("deeper_than_the_stack", "/experiments", deep(100_000), 400, "nested deeper than"),
    ("nan", "/experiments", b'{"name": "e", "parameters": [], "metadata": {"k": NaN}}', 400, "NaN"),
    ("infinity", "{exp}/observations", b'{"assignments": {}, "value": Infinity}', 400, "Infinity"),
    (
        "minus_infinity",
        "{exp}/observations",
        b'{"assignments": {}, "value": -Infinity}',
        400,
        "-Infinity",
    ),
    (
        "float_overflow",
        "{exp}/observations",
        b'{"suggestion": 1, "value": 1e400}',
        400,
        "values[0].value",
    ),
    # was a 500: float() of a 401-digit integer overflowed in the assignment check
    (
        "huge_int_assignment",
        "{exp}/observations",
        b'{"assignments": {"x": 1' + b"0" * 400 + b', "n": 1, "c": "a"}, "value": 1}',
        400,
        "`assignments.x`: inf is not a finite number",
    ),
    (
        "int_past_python_limit",
        "/experiments",
        b'{"name": ' + b"9" * 5000 + b"}",
        400,
        "Invalid value for `name`: Input should be a valid string",
    ),
    (
        "int_past_int64",
        "/experiments",
        experiment(observation_budget=2**64),
        400,
        "Invalid value for `observation_budget`",
    ),
    # was a 500: an int grid of 1e300 and an int default of 10^400 overflowed
    ("huge_int_grid", "/experiments", parameter(type="int", grid=[1e300, 1]), 400, "grid[0]"),
    (
        "huge_default",
        "/experiments",
        b'{"name": "e", "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, '
        b'"max": 1}, "default_value": 1' + b"0" * 400 + b"}]}",
        400,
        "`parameters[0].default_value`: inf is not a finite number",
    ),
    # was a 500 on the first suggestion: max - min overflowed in the optimizer
    (
        "bounds_wider_than_a_double",
        "/experiments",
        parameter(type="double", bounds={"min": -1.7e308, "max": 1.7e308}),
        400,
        "`parameters[0].bounds`: the range max - min",
    ),
    (
        "thousands_of_parameters",
        "/experiments",
        json.dumps(
            {
                "name": "e",
                "parameters": [
                    {"name": f"p{i}", "type": "double", "bounds": {"min": 0, "max": 1}}
                    for i in range(5000)
                ],
            }
        ).encode(),
        400,
        "`parameters`: List should have at most 100 items",
    ),
    (
        "thousands_of_categories",
        "/experiments",
        parameter(type="categorical", categorical_values=[str(i) for i in range(20_000)]),
        400,
        "`parameters[0].categorical_values`: List should have at most 1000 items",
    ),
    (
        "metadata_10k_keys",
        "/experiments",
        experiment(metadata={f"k{i}": i for i in range(10_000)}),
        400,
        "`metadata` has 10000 keys; at most 100",
    ),
    ("metadata_nested", "/experiments", experiment(metadata={"k": {"a": 1}}), 400, "`metadata.k`"),
    (
        "long_name",
        "/experiments",
        experiment(name="n" * 1_000_000),
        400,
        "`name`: String should have at most 100",
    ),
    (
        "long_metadata_value",
        "/experiments",
        experiment(metadata={"k": "v" * 10_000}),
        400,
        "`metadata.k` is longer than 500",
    ),
    (
        "long_category",
        "/experiments",
        parameter(type="categorical", categorical_values=["a", "b" * 51]),
        400,
        "must be 1 to 50 characters",
    ),
    ("nul_in_name", "/experiments", experiment(name="a\x00b"), 400, "`name`: NUL characters"),
    (
        "nul_in_category",
        "/experiments",
        parameter(type="categorical", categorical_values=["a", "b\x00"]),
        400,
        "`parameters[0].categorical_values[1]`: NUL",
    ),
    (
        "nul_in_metadata_key",
        "/experiments",
        experiment(metadata={"k\x00": 1}),
        400,
        "`metadata`: NUL",
    ),
    (
        "raw_nul_byte",
        "/experiments",
        b'{"name": "a\x00b", "parameters": []}',
        400,
        "Invalid control character",
    ),
    (
        "invalid_utf8",
        "/experiments",
        b'{"name": "\xff\xfe", "parameters": []}',
        400,
        "not valid UTF-8: byte 0xff at position 10",
    ),
    ("utf16", "/experiments", '{"name": "e"}'.encode("utf-16"), 400, "not valid UTF-8"),
    ("not_json", "/experiments", b"name=e&parameters=x", 400, "Malformed json in request body"),
    ("truncated_json", "/experiments", b'{"name": "e", "para', 400, "Malformed json"),
    ("array_body", "/experiments", b"[]", 400, "must be a JSON object"),
    ("string_body", "/experiments", b'"x"', 400, "must be a JSON object"),
    (
        "batch_too_big",
        "{exp}/observations/batch",
        json.dumps({"observations": [{}] * 2501}).encode(),
        400,
        "At most 2500",
    ),
]


class TestHostileBodies:
    """Each hostile body is a 4xx whose message names the culprit; the service survives."""

    @pytest.mark.parametrize(
        ("path", "raw", "status", "fragment"),
        [case[1:] for case in BODY_CASES],
        ids=[case[0] for case in BODY_CASES],
    )
    async def test_rejected(
        self,
        http: aiohttp.ClientSession,
        exp: str,
        path: str,
        raw: bytes,
        status: int,
        fragment: str,
    ) -> None:
        url = path.replace("{exp}", exp) if "{exp}" in path else exp.split("/v1/")[0] + "/v1" + path
        with anyio.fail_after(10):  # never a hang, however large the input
            got, text = await send(http, "POST", url, raw)
        assert got == status, text[:500]
        assert fragment in message_of(text), text[:500]
        await assert_still_serving(http, exp)

    async def test_infinite_threshold_update(
        self, http: aiohttp.ClientSession, service_url: str
    ) -> None:
        """Was a 500 that also left the experiment unloadable: an infinite threshold was
        stored, and every later GET failed to render it."""
        body = experiment(metrics=[{"name": "a"}, {"name": "b"}], observation_budget=5)
        _, text = await send(http, "POST", f"{service_url}/v1/experiments", body)
        url = f"{service_url}/v1/experiments/{json.loads(text)['id']}"
        raw = b'{"metrics": [{"name": "a", "threshold": 1e400}]}'
        status, text = await send(http, "PUT", url, raw)
        assert status == 400
        assert "`metrics[0].threshold`: inf is not a finite number" in message_of(text)
        status, text = await send(http, "GET", url)
        assert status == 200, text

    async def test_oversized_body_is_413(self, http: aiohttp.ClientSession, tmp_path: Any) -> None:
        config = ServiceConfig(port=0, db=tmp_path / "s.db", max_body_bytes=64 * 1024)
        async with running_service(config) as url:
            with anyio.fail_after(10):
                status, text = await send(http, "POST", f"{url}/v1/experiments", b" " * 300_000)
            assert status == 413
            assert "larger than the limit of 65536 bytes" in message_of(text)
            await assert_still_serving(http, url)

    async def test_default_limit_is_4_mib(self, http: aiohttp.ClientSession, exp: str) -> None:
        url = exp.split("/v1/")[0] + "/v1/experiments"
        status, text = await send(http, "POST", url, b"[" + b" " * (5 * 1024 * 1024) + b"]")
        assert status == 413 and "4194304 bytes" in message_of(text)
