"""Hostile input: each answer is a clear 4xx naming the culprit, never a 5xx or a hang, and
the service keeps serving afterwards.

The cases marked "was a 500" failed before the fixes made with this suite (see the
messages they now expect).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest

from sigopt_service.config import ServiceConfig
from sigopt_service.errors import CODES
from sigopt_service.http import running_service

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


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def exp(http: aiohttp.ClientSession, service_url: str) -> str:
    """An experiment with one open suggestion: `{url}/v1/experiments/{id}`."""
    body = {"name": "e", "parameters": PARAMS, "observation_budget": 10}
    status, text = await send(
        http, "POST", f"{service_url}/v1/experiments", json.dumps(body).encode()
    )
    assert status == 200, text
    return f"{service_url}/v1/experiments/{json.loads(text)['id']}"


async def assert_still_serving(http: aiohttp.ClientSession, url: str) -> None:
    base = url.split("/v1/")[0]
    status, text = await send(http, "GET", f"{base}/v1/experiments?state=all")
    assert status == 200, text


def experiment(**changes: Any) -> bytes:
    return json.dumps({"name": "e", "parameters": PARAMS, **changes}).encode()


def parameter(**fields: Any) -> bytes:
    return json.dumps({"name": "e", "parameters": [{"name": "p", **fields}]}).encode()


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


class TestContentTypes:
    """A body that says it is not JSON is a 415; what JSON clients send is read as JSON."""

    @pytest.mark.parametrize(
        ("content_type", "fragment"),
        [
            ("multipart/form-data; boundary=x", "'multipart/form-data'"),
            ("application/xml", "'application/xml'"),
            ("image/png", "'image/png'"),
            ("application/json; charset=utf-16", "charset 'utf-16'"),
        ],
    )
    async def test_refused(
        self, http: aiohttp.ClientSession, service_url: str, content_type: str, fragment: str
    ) -> None:
        status, text = await send(
            http,
            "POST",
            f"{service_url}/v1/experiments",
            experiment(),
            {"Content-Type": content_type},
        )
        assert status == 415 and fragment in message_of(text), text

    @pytest.mark.parametrize(
        "content_type",
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/vnd.api+json",
            "text/plain; charset=utf-8",  # aiohttp's client, for a str body
            "application/x-www-form-urlencoded",  # what curl -d sends; sigopt-server reads it
            None,
        ],
    )
    async def test_accepted(
        self, http: aiohttp.ClientSession, service_url: str, content_type: str | None
    ) -> None:
        headers = {} if content_type is None else {"Content-Type": content_type}
        status, text = await send(
            http, "POST", f"{service_url}/v1/experiments", experiment(), headers
        )
        assert status == 200, text

    async def test_empty_body_needs_no_content_type(
        self, http: aiohttp.ClientSession, exp: str
    ) -> None:
        status, text = await send(
            http, "POST", f"{exp}/suggestions", b"", {"Content-Type": "image/png"}
        )
        assert status == 200, text


class TestUnicode:
    """Unicode names, categories and metadata are accepted and round-trip intact."""

    async def test_round_trip(self, http: aiohttp.ClientSession, service_url: str) -> None:
        categories = ["😀", "naïve", "דבר", "e\u0301", "中文", "\u200b"]
        body = {
            "name": "実験 🚀 Ωmega",
            "parameters": [
                {"name": "学習率", "type": "double", "bounds": {"min": 0, "max": 1}},
                {"name": "種類", "type": "categorical", "categorical_values": categories},
            ],
            "metrics": [{"name": "точность"}],
            "metadata": {"ключ 🔑": "значение ✓"},
        }
        status, text = await send(
            http, "POST", f"{service_url}/v1/experiments", json.dumps(body).encode()
        )
        assert status == 200, text
        created = json.loads(text)
        status, text = await send(http, "GET", f"{service_url}/v1/experiments/{created['id']}")
        fetched = json.loads(text)
        assert fetched["name"] == body["name"]
        assert {p["name"] for p in fetched["parameters"]} == {"学習率", "種類"}
        cats = next(p for p in fetched["parameters"] if p["name"] == "種類")["categorical_values"]
        assert sorted(c["name"] for c in cats) == sorted(categories)
        assert fetched["metrics"][0]["name"] == "точность"
        assert fetched["metadata"] == body["metadata"]
        exp = f"{service_url}/v1/experiments/{created['id']}"
        _, text = await send(http, "POST", f"{exp}/suggestions", b"")
        suggestion = json.loads(text)
        assert suggestion["assignments"]["種類"] in categories
        obs = {"suggestion": suggestion["id"], "values": [{"name": "точность", "value": 0.5}]}
        status, text = await send(http, "POST", f"{exp}/observations", json.dumps(obs).encode())
        assert status == 200, text
        _, text = await send(http, "GET", f"{exp}/best_assignments")
        assert json.loads(text)["data"][0]["assignments"] == suggestion["assignments"]


# (id, path and query under the experiment or /v1, status, fragment in the message)
QUERY_CASES: list[tuple[str, str, int, str]] = [
    ("limit_word", "{exp}/observations?limit=abc", 400, "`limit`: 'abc' is not an integer"),
    ("limit_underscore", "{exp}/observations?limit=1_0", 400, "`limit`: '1_0'"),
    ("limit_arabic_digit", "{exp}/observations?limit=%D9%A3", 400, "`limit`"),
    ("limit_huge", "{exp}/observations?limit=" + "9" * 40, 400, "`limit`"),
    ("limit_negative", "{exp}/suggestions?limit=-5", 400, "`limit`: -5 must be at least 0"),
    ("before_nul", "{exp}/observations?before=%00", 400, "`before`"),
    ("before_long", "{exp}/observations?before=" + "A" * 4000, 400, "`before`"),
    ("before_and_after", "{exp}/observations?before=aWQ6MQ&after=aWQ6MQ", 400, "at most one of"),
    ("state_invalid_utf8", "/experiments?state=%FF%FE", 400, "`state`"),
    ("suggestion_state", "{exp}/suggestions?state=closed", 400, "Unrecognized state closed"),
    ("id_list_garbage", "{exp}/suggestions?id=1,x", 400, "`id`: 'x' is not an id"),
    ("bool_garbage", "{exp}/observations?ascending=maybe", 400, "`ascending`"),
    ("within_budget_garbage", "{exp}/suggestions?within_budget=%00", 400, "`within_budget`"),
    # was a 500: "³".isdigit() is true, int("³") raises
    ("superscript_id", "/experiments/%C2%B3", 404, "Endpoint not found"),
    ("arabic_id", "/experiments/%D9%A3/suggestions", 404, "Endpoint not found"),
    ("huge_id", "/experiments/" + "9" * 30, 404, "Endpoint not found"),
    ("negative_id", "/experiments/-1", 404, "Endpoint not found"),
    ("hex_id", "/experiments/0x10", 404, "Endpoint not found"),
]


class TestHostileQueries:
    """Garbage in query strings and path ids is a 400 or 404 naming it, never a 5xx."""

    @pytest.mark.parametrize(
        ("path", "status", "fragment"),
        [case[1:] for case in QUERY_CASES],
        ids=[case[0] for case in QUERY_CASES],
    )
    async def test_rejected(
        self, http: aiohttp.ClientSession, exp: str, path: str, status: int, fragment: str
    ) -> None:
        url = path.replace("{exp}", exp) if "{exp}" in path else exp.split("/v1/")[0] + "/v1" + path
        method = "POST" if "within_budget" in path else "GET"
        got, text = await send(http, method, url, None, {})
        assert got == status, text
        assert fragment in message_of(text), text
        await assert_still_serving(http, exp)

    async def test_request_line_past_8_kib(self, http: aiohttp.ClientSession, exp: str) -> None:
        """aiohttp's parser refuses it (plain text) before any handler runs."""
        got, _ = await send(http, "GET", f"{exp}/observations?before=" + "A" * 20_000, None, {})
        assert got in (400, 414)
        await assert_still_serving(http, exp)

    async def test_many_garbage_requests_then_normal_work(
        self, http: aiohttp.ClientSession, exp: str
    ) -> None:
        for i in range(200):
            await send(http, "POST", f"{exp}/observations", bytes([i % 256]) * (i + 1))
        status, text = await send(http, "POST", f"{exp}/suggestions", b"")
        assert status == 200, text
        suggestion = json.loads(text)
        body = json.dumps({"suggestion": suggestion["id"], "value": 1.0}).encode()
        status, text = await send(http, "POST", f"{exp}/observations", body)
        assert status == 200, text
