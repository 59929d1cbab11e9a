"""Hostile input: content types (415 or read as JSON) and Unicode that round-trips intact."""

from __future__ import annotations

import json

import aiohttp
import pytest

from tests.sigopt_service.hostile_helpers import experiment, message_of, send


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
