"""Broken experiment definitions are 400s naming the field; unknown ids and paths are 404s."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.sigopt_service.api_cases import EXPERIMENT_CREATE_CASES, PARAMS, call


class TestExperimentValidation:
    """Creating an experiment with a broken definition is a 400 naming the field."""

    @pytest.mark.parametrize(("body", "fragment"), EXPERIMENT_CREATE_CASES)
    async def test_create_rejected(
        self, http: aiohttp.ClientSession, service_url: str, body: Any, fragment: str
    ) -> None:
        status, err = await call(http, "POST", f"{service_url}/v1/experiments", body)
        assert status == 400, err
        assert err["status"] == 400
        assert fragment in err["message"], err["message"]

    @pytest.mark.parametrize(
        ("raw", "fragment"),
        [
            (b"{not json", "Malformed json"),
            (b"[1, 2]", "must be a JSON object"),
            (b'{"name": "e", "parameters": [], "observation_budget": NaN}', "NaN"),
            (b"[" * 100_000 + b"]" * 100_000, "Malformed json"),
        ],
    )
    async def test_bad_json(
        self, http: aiohttp.ClientSession, service_url: str, raw: bytes, fragment: str
    ) -> None:
        status, err = await call(http, "POST", f"{service_url}/v1/experiments", raw=raw)
        assert status == 400 and fragment in err["message"]

    async def test_update_rejected(self, http: aiohttp.ClientSession, exp: str) -> None:
        status, err = await call(http, "PUT", exp, {"nope": 1})
        assert status == 400 and "`nope`" in err["message"]
        status, err = await call(http, "PUT", exp, {"parameters": [{"name": "zz"}]})
        assert status == 400 and "New parameters must have default values" in err["message"]


class TestNotFound:
    """Unknown ids and paths are 404s naming the id or the path."""

    async def test_unknown_experiment(self, http: aiohttp.ClientSession, service_url: str) -> None:
        for method in ("GET", "PUT", "DELETE"):
            status, err = await call(http, method, f"{service_url}/v1/experiments/4242", {})
            assert status == 404 and err["message"] == "No experiment 4242"
        status, err = await call(http, "POST", f"{service_url}/v1/experiments/4242/suggestions")
        assert status == 404 and "4242" in err["message"]

    async def test_unknown_suggestion_and_observation(
        self, http: aiohttp.ClientSession, exp: str
    ) -> None:
        eid = exp.rsplit("/", 1)[1]
        status, err = await call(http, "GET", f"{exp}/suggestions/777")
        assert status == 404 and err["message"] == f"No suggestion 777 for experiment {eid}"
        status, err = await call(http, "GET", f"{exp}/observations/778")
        assert status == 404 and err["message"] == f"No observation 778 for experiment {eid}"
        status, err = await call(http, "DELETE", f"{exp}/observations/778")
        assert status == 404 and "778" in err["message"]

    async def test_other_experiments_suggestion_is_not_found(
        self, http: aiohttp.ClientSession, exp: str, service_url: str
    ) -> None:
        _, other = await call(
            http, "POST", f"{service_url}/v1/experiments", {"name": "o", "parameters": PARAMS}
        )
        _, s = await call(http, "POST", f"{service_url}/v1/experiments/{other['id']}/suggestions")
        status, err = await call(http, "GET", f"{exp}/suggestions/{s['id']}")
        assert status == 404 and s["id"] in err["message"]

    async def test_unknown_path_and_non_integer_id(
        self, http: aiohttp.ClientSession, service_url: str
    ) -> None:
        status, err = await call(http, "GET", f"{service_url}/v1/nothing")
        assert status == 404 and "/v1/nothing" in err["message"]
        status, err = await call(http, "GET", f"{service_url}/v1/experiments/abc")
        assert status == 404 and "/v1/experiments/abc" in err["message"]

    async def test_wrong_method_is_405(self, http: aiohttp.ClientSession, exp: str) -> None:
        status, err = await call(http, "PATCH", exp, {})
        assert status == 405 and "GET" in err["message"]
