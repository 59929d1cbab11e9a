"""Errors as data at the API boundary: every error body is `{"message", "status", "field",
"code"}` with a code from `errors.CODES`, store errors are mapped once, and a few
representative bad requests name the key path they are about."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from sigopt_service.config import ServiceConfig
from sigopt_service.errors import (
    CODES,
    AlreadyObserved,
    ApiError,
    Conflict,
    DatabaseError,
    InvalidRequest,
    NotFound,
    RecordNotFound,
    UnknownSuggestion,
)
from sigopt_service.http import running_service
from sigopt_service.http.middlewares import api_error_for
from sigopt_service.models import Experiment
from sigopt_service.store import InMemoryStore, Page
from tests.sigopt_service.api_cases import call

PARAMS = [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}]
KEYS = {"message", "status", "field", "code"}


async def _experiment(http: aiohttp.ClientSession, url: str, **extra: Any) -> str:
    body = {"name": "e", "type": "random", "parameters": PARAMS, **extra}
    status, created = await call(http, "POST", f"{url}/v1/experiments", body)
    assert status == 200, created
    return f"{url}/v1/experiments/{created['id']}"


def _assert_error_body(status: int, body: Any, expected_status: int, code: str) -> None:
    assert status == expected_status, body
    assert set(body) == KEYS, body
    assert body["status"] == expected_status and body["code"] == code
    assert body["code"] in CODES
    assert isinstance(body["message"], str) and body["message"]


class TestEveryErrorBodyHasTheFourKeys:
    """Each 4xx the service answers carries message, status, field and a known code."""

    async def test_http_layer_errors(self, http: aiohttp.ClientSession, service_url: str) -> None:
        base = await _experiment(http, service_url)
        cases: list[tuple[str, str, Any, bytes | None, int, str]] = [
            ("GET", f"{service_url}/v1/nowhere", None, None, 404, "endpoint_not_found"),
            ("GET", f"{service_url}/v1/experiments/abc", None, None, 404, "endpoint_not_found"),
            ("PATCH", f"{service_url}/v1/experiments", None, None, 405, "method_not_allowed"),
            ("POST", f"{service_url}/v1/experiments", None, b"{nope", 400, "invalid_json"),
            ("POST", f"{service_url}/v1/experiments", None, b"[1]", 400, "invalid_json"),
            ("GET", f"{service_url}/v1/experiments/999", None, None, 404, "not_found"),
            ("GET", f"{base}/suggestions/999", None, None, 404, "not_found"),
            ("GET", f"{base}/observations/999", None, None, 404, "not_found"),
            ("GET", f"{service_url}/v1/experiments?limit=x", None, None, 400, "invalid_value"),
            ("GET", f"{service_url}/v1/experiments?state=x", None, None, 400, "invalid_value"),
            (
                "POST",
                f"{base}/observations",
                {"suggestion": 999, "value": 1.0},
                None,
                400,
                "unknown_suggestion",
            ),
        ]
        for method, url, body, raw, expected, code in cases:
            status, answer = await call(http, method, url, body, raw=raw)
            _assert_error_body(status, answer, expected, code)

    async def test_body_too_large(self, http: aiohttp.ClientSession, tmp_path: Any) -> None:
        config = ServiceConfig(port=0, db=tmp_path / "s.db", max_body_bytes=2048)
        async with running_service(config) as url:
            status, answer = await call(http, "POST", f"{url}/v1/experiments", raw=b" " * 4096)
        _assert_error_body(status, answer, 413, "body_too_large")

    async def test_unsupported_media_type(
        self, http: aiohttp.ClientSession, service_url: str
    ) -> None:
        status, answer = await call(
            http,
            "POST",
            f"{service_url}/v1/experiments",
            raw=b"<xml/>",
            headers={"Content-Type": "application/xml"},
        )
        _assert_error_body(status, answer, 415, "unsupported_media_type")

    async def test_unauthorized_and_rate_limited(
        self, http: aiohttp.ClientSession, tmp_path: Any
    ) -> None:
        token = "t" * 24
        config = ServiceConfig(port=0, tokens=(token,), rate_limit_per_s=1)
        auth = {"Authorization": "Basic " + base64.b64encode(f"{token}:".encode()).decode()}
        async with running_service(config) as url:
            status, answer = await call(http, "GET", f"{url}/v1/experiments")
            _assert_error_body(status, answer, 401, "unauthorized")
            await call(http, "GET", f"{url}/v1/experiments", headers=auth)
            status, answer = await call(http, "GET", f"{url}/v1/experiments", headers=auth)
            _assert_error_body(status, answer, 429, "rate_limited")

    async def test_conflicts(self, http: aiohttp.ClientSession, service_url: str) -> None:
        base = await _experiment(http, service_url, observation_budget=1)
        _, first = await call(http, "POST", f"{base}/suggestions?within_budget=true", {})
        status, answer = await call(http, "POST", f"{base}/suggestions?within_budget=true", {})
        _assert_error_body(status, answer, 409, "budget_reached")
        observation = {"suggestion": first["id"], "value": 1.0}
        assert (await call(http, "POST", f"{base}/observations", observation))[0] == 200
        status, answer = await call(http, "POST", f"{base}/observations", observation)
        _assert_error_body(status, answer, 409, "already_observed")
        assert answer["field"] == "suggestion"

    async def test_next_suggestion_refused_carries_code_and_field(
        self, http: aiohttp.ClientSession, service_url: str
    ) -> None:
        base = await _experiment(http, service_url, observation_budget=1)
        _, first = await call(http, "POST", f"{base}/suggestions", {})
        status, answer = await call(
            http,
            "POST",
            f"{base}/observations?within_budget=true",
            {"suggestion": first["id"], "value": 1.0, "next_suggestion": {}},
        )
        assert status == 200 and answer["next_suggestion"] is None
        refused = answer["next_suggestion_refused"]
        _assert_error_body(409, refused, 409, "budget_reached")
        assert refused["field"] is None


class _BrokenDatabase(InMemoryStore):
    def list_experiments(self, **kwargs: Any) -> Page[Experiment]:
        raise DatabaseError("disk I/O error")


class TestStoreErrorsAreMappedOnce:
    """Each store error becomes one API error (or a 500), at the boundary."""

    @pytest.mark.parametrize(
        ("error", "kind", "status", "code", "field"),
        [
            (RecordNotFound("experiment", 7), NotFound, 404, "not_found", None),
            (RecordNotFound("suggestion", 3, 7), NotFound, 404, "not_found", None),
            (UnknownSuggestion(3, 7), InvalidRequest, 400, "unknown_suggestion", "suggestion"),
            (
                AlreadyObserved(3, 7, in_batch=False),
                Conflict,
                409,
                "already_observed",
                "suggestion",
            ),
            (AlreadyObserved(3, 7, in_batch=True), Conflict, 409, "already_observed", "suggestion"),
        ],
    )
    def test_mapping(
        self,
        error: Exception,
        kind: type[ApiError],
        status: int,
        code: str,
        field: str | None,
    ) -> None:
        mapped = api_error_for(error)  # type: ignore[arg-type]
        assert isinstance(mapped, kind)
        assert (mapped.status, mapped.code, mapped.field) == (status, code, field)
        assert mapped.message == str(error)  # SigOpt's wording, as the store built it

    def test_database_error_is_no_api_error(self) -> None:
        assert api_error_for(DatabaseError("disk I/O error")) is None

    def test_api_errors_pass_through(self) -> None:
        error = InvalidRequest("bad", field="name", code="invalid_value")
        assert api_error_for(error) is error

    async def test_database_error_is_a_500_logged_once(self, http: aiohttp.ClientSession) -> None:
        with capture_logs() as logs:
            async with running_service(ServiceConfig(port=0), store=_BrokenDatabase()) as url:
                status, answer = await call(http, "GET", f"{url}/v1/experiments")
        assert status == 500 and "disk" not in answer["message"]
        assert set(answer) == KEYS and answer["code"] == "internal_error"
        assert [e["event"] for e in logs if e["log_level"] == "error"] == ["unhandled_error"]


class TestFieldPaths:
    """A bad request names the key path it is about in `field`."""

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("limit=x", "limit"),
            ("limit=5000", "limit"),
            ("before=%25%25", "before"),
            ("deleted=maybe", "deleted"),
            ("id=1,,2", "id"),
            ("state=closed", "state"),
        ],
    )
    async def test_query_parameters(
        self, http: aiohttp.ClientSession, service_url: str, query: str, field: str
    ) -> None:
        base = await _experiment(http, service_url)
        status, answer = await call(http, "GET", f"{base}/suggestions?{query}")
        _assert_error_body(status, answer, 400, "invalid_value")
        assert answer["field"] == field

    async def test_bodies(self, http: aiohttp.ClientSession, service_url: str) -> None:
        base = await _experiment(http, service_url)
        _, suggestion = await call(http, "POST", f"{base}/suggestions", {})
        cases: list[tuple[str, str, dict[str, Any], str, str]] = [
            (
                "POST",
                f"{service_url}/v1/experiments",
                {"parameters": PARAMS},
                "name",
                "missing_key",
            ),
            (
                "POST",
                f"{service_url}/v1/experiments",
                {"name": "e", "parameters": PARAMS, "foo": 1},
                "foo",
                "unknown_key",
            ),
            (
                "POST",
                f"{base}/observations/batch",
                {"observations": [], "dry_run": "yes"},
                "dry_run",
                "invalid_value",
            ),
            (
                "POST",
                f"{base}/observations",
                {"suggestion": suggestion["id"], "value": "high"},
                "value",
                "invalid_value",
            ),
        ]
        for method, url, body, field, code in cases:
            status, answer = await call(http, method, url, body)
            _assert_error_body(status, answer, 400, code)
            assert answer["field"] == field, answer

    async def test_nul_in_a_nested_value(
        self, http: aiohttp.ClientSession, service_url: str
    ) -> None:
        raw = b'{"name": "e", "parameters": [{"name": "a\\u0000b"}]}'
        status, answer = await call(http, "POST", f"{service_url}/v1/experiments", raw=raw)
        _assert_error_body(status, answer, 400, "invalid_value")
        assert answer["field"] == "parameters[0].name"
