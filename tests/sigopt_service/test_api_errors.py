"""Every 4xx path the spec names answers with its status and a message naming the culprit."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from sigopt_service.config import ServiceConfig
from sigopt_service.http import running_service

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


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def exp(http: aiohttp.ClientSession, service_url: str) -> str:
    status, body = await call(
        http,
        "POST",
        f"{service_url}/v1/experiments",
        {"name": "e", "parameters": PARAMS, "observation_budget": 10},
    )
    assert status == 200, body
    return f"{service_url}/v1/experiments/{body['id']}"


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
        "threshold",
    ),
    (
        {
            "name": "e",
            "parameters": PARAMS,
            "metrics": [{"name": "m"}, {"name": "s", "strategy": "store", "threshold": 1}],
            "observation_budget": 5,
        },
        "threshold",
    ),
    ({"name": "e", "parameters": PARAMS, "metrics": ["a", "b"]}, "`observation_budget`"),
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
        assert status == 400 and "zz" in err["message"]


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


class TestSuggestionAndObservationRules:
    """The spec's section-4 rules on suggestions and observations answer 400 with a message."""

    async def test_observation_rules(self, http: aiohttp.ClientSession, exp: str) -> None:
        eid = exp.rsplit("/", 1)[1]
        _, s = await call(http, "POST", f"{exp}/suggestions")
        cases: list[tuple[dict[str, Any], str]] = [
            ({"value": 1.0}, "exactly one of `suggestion`, `assignments`"),
            (
                {"suggestion": s["id"], "assignments": s["assignments"], "value": 1},
                "exactly one of",
            ),
            (
                {"suggestion": s["id"], "failed": True, "value": 1.0},
                "Cannot provide `values` if observation has failed",
            ),
            ({"suggestion": s["id"]}, "`value`"),
            ({"suggestion": s["id"], "values": []}, "values"),
            (
                {"suggestion": "999999", "value": 1.0},
                f"No suggestion: 999999 for experiment: {eid}",
            ),
            ({"suggestion": s["id"], "value": 1.0, "extra": 2}, "`extra`"),
            ({"suggestion": s["id"], "values": [{"name": "other", "value": 1.0}]}, "other"),
            (
                {"suggestion": s["id"], "values": [{"value": 1.0, "value_stddev": -1}]},
                "value_stddev",
            ),
            (
                {"assignments": {"x": 0.5, "n": 2}, "value": 1.0},
                'Missing assignment for parameter: "c"',
            ),
            ({"assignments": {"x": 0.5, "n": 2, "c": "z"}, "value": 1.0}, "assignments.c"),
            ({"assignments": {"x": 0.5, "n": 2.5, "c": "a"}, "value": 1.0}, "assignments.n"),
            ({"assignments": {"x": 0.5, "n": 2, "c": "a", "q": 1}, "value": 1.0}, "'q'"),
        ]
        for body, fragment in cases:
            status, err = await call(http, "POST", f"{exp}/observations", body)
            assert status == 400, (body, err)
            assert fragment in err["message"], (body, err["message"])

    async def test_huge_numbers_are_not_finite(self, http: aiohttp.ClientSession, exp: str) -> None:
        _, s = await call(http, "POST", f"{exp}/suggestions")
        raw = ('{{"suggestion": "{}", "value": 1e400}}'.format(s["id"])).encode()
        status, err = await call(http, "POST", f"{exp}/observations", raw=raw)
        assert status == 400 and "values[0].value" in err["message"], err
        raw = ('{{"suggestion": "{}", "value": {}}}'.format(s["id"], "9" * 5000)).encode()
        status, err = await call(http, "POST", f"{exp}/observations", raw=raw)
        assert status == 400, err

    async def test_deleted_suggestion_cannot_be_observed(
        self, http: aiohttp.ClientSession, exp: str
    ) -> None:
        eid = exp.rsplit("/", 1)[1]
        _, s = await call(http, "POST", f"{exp}/suggestions")
        await call(http, "DELETE", f"{exp}/suggestions/{s['id']}")
        status, err = await call(
            http, "POST", f"{exp}/observations", {"suggestion": s["id"], "value": 1.0}
        )
        assert status == 400 and err["message"] == f"No suggestion: {s['id']} for experiment: {eid}"

    async def test_batch_validates_everything_first(
        self, http: aiohttp.ClientSession, exp: str
    ) -> None:
        good = {"assignments": {"x": 0.5, "n": 2, "c": "a"}, "value": 1.0}
        status, err = await call(
            http,
            "POST",
            f"{exp}/observations/batch",
            {"observations": [good, {"assignments": {"x": 1}, "value": 1}]},
        )
        assert status == 400 and err["message"].startswith("Error in observation 2/2:")
        _, page = await call(http, "GET", f"{exp}/observations")
        assert page["count"] == 0

    async def test_list_query_rules(self, http: aiohttp.ClientSession, exp: str) -> None:
        for query, fragment in [
            ("suggestions?state=closed", "Unrecognized state closed"),
            ("observations?limit=1001", "Exceeded maximum limit: 1000"),
            ("observations?limit=-1", "`limit`"),
            ("observations?before=", "`before`"),
            ("observations?before=garbage!", "`before`"),
            ("observations?ascending=maybe", "`ascending`"),
            ("suggestions?id=", "empty id"),
            ("suggestions?id=1,,2", "empty id"),
        ]:
            status, err = await call(http, "GET", f"{exp}/{query}")
            assert status == 400 and fragment in err["message"], (query, err)

    async def test_suggestion_with_bad_assignments(
        self, http: aiohttp.ClientSession, exp: str
    ) -> None:
        status, err = await call(
            http, "POST", f"{exp}/suggestions", {"assignments": {"x": "high", "n": 1, "c": "a"}}
        )
        assert status == 400 and "assignments.x" in err["message"]
        _, s = await call(http, "POST", f"{exp}/suggestions")
        status, err = await call(
            http, "PUT", f"{exp}/suggestions/{s['id']}", {"metadata": {"k": {}}}
        )
        assert status == 400 and "metadata" in err["message"], err

    async def test_observation_update_rules(self, http: aiohttp.ClientSession, exp: str) -> None:
        _, s = await call(http, "POST", f"{exp}/suggestions")
        _, o = await call(
            http, "POST", f"{exp}/observations", {"suggestion": s["id"], "value": 2.0}
        )
        status, err = await call(http, "PUT", f"{exp}/observations/{o['id']}", {"failed": True})
        assert status == 400 and "cannot have failed == true" in err["message"]
        status, body = await call(
            http, "PUT", f"{exp}/observations/{o['id']}", {"failed": True, "values": None}
        )
        assert status == 200 and body["failed"] is True and body["values"] == []


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
