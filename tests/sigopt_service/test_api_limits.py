"""Tokens, rate and body-size limits (401, 429, 413), and SigOpt's wire shapes."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from sigopt_service.config import ServiceConfig
from sigopt_service.http import running_service
from tests.sigopt_service.api_cases import call


class TestAuthAndLimits:
    """Tokens, rate limits and body size limits answer 401, 429 and 413."""

    async def test_token_required_when_configured(
        self, http: aiohttp.ClientSession, tmp_path: Any
    ) -> None:
        config = ServiceConfig(port=0, db=tmp_path / "a.db", tokens=("s3cret",))
        async with running_service(config) as url:
            status, err = await call(http, "GET", f"{url}/v1/experiments")
            assert status == 401 and "HTTP Basic Auth" in err["message"]
            bad = {"Authorization": "Basic " + base64.b64encode(b"wrong:").decode()}
            status, err = await call(http, "GET", f"{url}/v1/experiments", headers=bad)
            assert status == 401 and "s3cret" not in json.dumps(err)
            good = {"Authorization": "Basic " + base64.b64encode(b"s3cret:").decode()}
            status, _ = await call(http, "GET", f"{url}/v1/experiments", headers=good)
            assert status == 200
            status, err = await call(
                http, "GET", f"{url}/v1/experiments", headers={"Authorization": "Basic !!!"}
            )
            assert status == 400 and "Could not parse API token" in err["message"]

    def test_refuses_non_loopback_without_token(self) -> None:
        with pytest.raises(ValueError, match="refusing to listen without an API token"):
            ServiceConfig(host="0.0.0.0")
        assert ServiceConfig(host="0.0.0.0", tokens=("t",)).tokens == ("t",)

    async def test_rate_limit_answers_429_with_retry_after(
        self, http: aiohttp.ClientSession, tmp_path: Any
    ) -> None:
        config = ServiceConfig(port=0, db=tmp_path / "r.db", rate_limit_per_s=5)
        async with running_service(config) as url:
            statuses = []
            for _ in range(12):
                async with http.get(f"{url}/v1/experiments") as resp:
                    statuses.append(resp.status)
                    if resp.status == 429:
                        assert int(resp.headers["Retry-After"]) >= 1
                        assert "too many requests" in (await resp.json())["message"]
            assert 429 in statuses and statuses[:5] == [200] * 5

    async def test_oversized_body_is_413(self, http: aiohttp.ClientSession, tmp_path: Any) -> None:
        config = ServiceConfig(port=0, db=tmp_path / "b.db", max_body_bytes=2048)
        async with running_service(config) as url:
            status, err = await call(http, "POST", f"{url}/v1/experiments", raw=b"{" + b" " * 5000)
            assert status == 413 and "2048" in err["message"]


class TestWireFormat:
    """Responses carry SigOpt's shapes: objects, string ids, pagination, skip-content."""

    async def test_shapes(self, http: aiohttp.ClientSession, exp: str) -> None:
        _status, e = await call(http, "GET", exp)
        assert e["object"] == "experiment" and isinstance(e["id"], str)
        assert e["progress"]["object"] == "progress" and e["progress"]["observation_count"] == 0
        _, s = await call(http, "POST", f"{exp}/suggestions")
        assert (
            s["object"] == "suggestion" and s["state"] == "open" and isinstance(s["created"], int)
        )
        _, o = await call(
            http, "POST", f"{exp}/observations", {"suggestion": s["id"], "value": 3.5}
        )
        assert o["object"] == "observation" and o["value"] == 3.5 and o["suggestion"] == s["id"]
        _, page = await call(http, "GET", f"{exp}/observations")
        assert page["object"] == "pagination" and page["count"] == 1
        assert page["paging"]["before"] is None
        async with http.get(exp, headers={"X-Response-Content": "skip"}) as resp:
            assert resp.status == 204
        _, stop = await call(http, "GET", f"{exp}/stopping_criteria")
        assert stop == {"object": "stopping_criteria", "should_stop": False, "reasons": []}

    async def test_openapi_document(self, http: aiohttp.ClientSession, service_url: str) -> None:
        status, doc = await call(http, "GET", f"{service_url}/v1/openapi.json")
        assert status == 200 and doc["openapi"].startswith("3.")
        assert "/v1/experiments/{experiment_id}/observations/batch" in doc["paths"]
        assert "ExperimentCreateBody" in doc["components"]["schemas"]
