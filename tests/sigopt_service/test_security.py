"""Security of the service: a token beyond loopback, constant-time comparison, a bounded
request size, and secrets that never appear in an answer or a log line."""

from __future__ import annotations

import base64
import hmac
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from structlog.testing import capture_logs

from sigopt_service.cli import main as service_main
from sigopt_service.config import ServiceConfig
from sigopt_service.http import middlewares as service_middlewares
from sigopt_service.http import running_service
from sigopt_service.logs import LogFormat, configure_logging
from sigopt_service.models import Experiment
from sigopt_service.store import InMemoryStore, Page
from tests.support.service_process import ServiceProcess

TOKEN = "s3cret-RIGHT-token-8c1f"
WRONG = "wr0ng-GUESS-token-77aa"
PARAMS: list[dict[str, Any]] = [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}]


def basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{token}:".encode()).decode()}


def secrets_in(text: str) -> list[str]:
    forms = [TOKEN, WRONG, base64.b64encode(f"{TOKEN}:".encode()).decode()]
    forms.append(base64.b64encode(f"{WRONG}:".encode()).decode())
    return [f for f in forms if f in text]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class TestLoopbackOnlyWithoutToken:
    """Beyond loopback the service refuses to start without a token."""

    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.0.0.1", "example.com", "[::1]"])
    def test_refused(self, host: str) -> None:
        with pytest.raises(ValueError, match="refusing to listen without an API token"):
            ServiceConfig(host=host)

    @pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
    def test_loopback_needs_none(self, host: str) -> None:
        assert ServiceConfig(host=host).tokens == ()

    def test_cli_exits_with_the_reason(self, tmp_path: Path) -> None:
        with pytest.raises(SystemExit, match="refusing to listen without an API token"):
            service_main(["--host", "0.0.0.0", "--port", "0", "--db", str(tmp_path / "s.db")])

    def test_empty_token_is_no_token(self) -> None:
        with pytest.raises(ValueError, match="must not be empty"):
            ServiceConfig(host="0.0.0.0", tokens=("",))


class TestConstantTimeComparison:
    """Tokens are compared with hmac.compare_digest, against every known token."""

    @pytest.mark.parametrize("candidate", [TOKEN, WRONG, "x", TOKEN + "x", "", "é" * 40])
    def test_every_token_compared_with_compare_digest(
        self, monkeypatch: pytest.MonkeyPatch, candidate: str
    ) -> None:
        calls: list[tuple[bytes, bytes]] = []
        real = hmac.compare_digest

        def spy(a: bytes, b: bytes) -> bool:
            calls.append((a, b))
            return bool(real(a, b))

        monkeypatch.setattr("sigopt_service.http.access.hmac.compare_digest", spy)
        known = (TOKEN, "another-token", "third")
        assert service_middlewares.token_is_known(candidate, known) is (candidate == TOKEN)
        # No early exit: the time taken does not tell which token matched, or how many.
        assert [b for _, b in calls] == [t.encode() for t in known]
        assert all(a == candidate.encode() for a, _ in calls)


class TestRequestSize:
    """Bodies past `max_body_bytes` are refused, also when sent chunked (no length)."""

    async def test_chunked_body_past_the_limit(
        self, http: aiohttp.ClientSession, tmp_path: Path
    ) -> None:
        config = ServiceConfig(port=0, db=tmp_path / "s.db", max_body_bytes=8192)

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(100):
                yield b" " * 1024

        async with running_service(config) as url:
            async with http.post(f"{url}/v1/experiments", data=chunks()) as resp:
                assert resp.status == 413
                assert "8192 bytes" in (await resp.json())["message"]
            async with http.get(f"{url}/v1/experiments") as resp:
                assert resp.status == 200


class _ExplodingStore(InMemoryStore):
    def list_experiments(self, **kwargs: Any) -> Page[Experiment]:
        raise RuntimeError("disk on fire")


class TestSecretsNeverEchoed:
    """Neither a right nor a wrong token appears in any answer or any log line."""

    async def _exercise(self, http: aiohttp.ClientSession, url: str) -> list[str]:
        """Requests with no, wrong, malformed and right tokens; returns every answer."""
        answers = []
        attempts: list[dict[str, str]] = [
            {},
            basic(WRONG),
            {"Authorization": f"Bearer {TOKEN}"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": "Basic " + base64.b64encode(WRONG.encode() + b"\xff").decode()},
            basic(TOKEN),
        ]
        for headers in attempts:
            for method, path, body in [
                ("GET", "/v1/experiments", None),
                ("POST", "/v1/experiments", {"name": "e", "parameters": "bad"}),
                ("POST", "/v1/experiments", {"name": "e", "parameters": PARAMS}),
                ("GET", "/v1/experiments/abc", None),
                ("GET", "/v1/experiments?state=garbage", None),
                ("GET", "/v1/openapi.json", None),
            ]:
                async with http.request(method, f"{url}{path}", json=body, headers=headers) as resp:
                    text = await resp.text()
                    assert resp.status < 500, text
                    answers.append(f"{resp.status} {dict(resp.headers)} {text}")
        return answers

    async def test_answers_and_captured_logs(
        self, http: aiohttp.ClientSession, tmp_path: Path
    ) -> None:
        config = ServiceConfig(port=0, db=tmp_path / "s.db", tokens=(TOKEN,))
        with capture_logs() as logs:
            async with running_service(config) as url:
                answers = await self._exercise(http, url)
        statuses = [a.split()[0] for a in answers]
        assert {"200", "400", "401", "404"} <= set(statuses)
        assert not [a for a in answers if secrets_in(a)]
        assert not secrets_in(json.dumps(logs, default=str))
        assert not secrets_in(repr(config))

    async def test_a_500_traceback_shows_no_token(
        self,
        http: aiohttp.ClientSession,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """1. Console logging with rich tracebacks, as on a terminal.
        2. An authenticated request hits a failing store: a 500, logged with its traceback.
        3. The traceback (which used to print frame locals: `tokens`, `token`, the
           config) holds neither token."""
        formats: list[LogFormat] = ["console", "json"]
        for fmt in formats:
            configure_logging(fmt, "info")
            # Module loggers must not keep this test's (soon closed) stderr for good, and
            # one cached by an earlier test must not hide this configuration.
            structlog.configure(cache_logger_on_first_use=False)
            monkeypatch.setattr(service_middlewares, "log", structlog.get_logger())
            config = ServiceConfig(port=0, tokens=(TOKEN, WRONG))
            async with (
                running_service(config, store=_ExplodingStore()) as url,
                http.get(f"{url}/v1/experiments", headers=basic(TOKEN)) as resp,
            ):
                assert resp.status == 500
                assert not secrets_in(await resp.text())
            err = capsys.readouterr().err
            assert "disk on fire" in err and "unhandled_error" in err
            assert not secrets_in(err), err[-3000:]
            structlog.reset_defaults()

    def test_standalone_service_logs(self, tmp_path: Path) -> None:
        """The service as a process (token from the environment): its stderr and its
        database never hold the token, whatever the requests carried."""
        env_name = "SECURITY_TEST_TOKEN"
        os.environ[env_name] = TOKEN
        try:
            service = ServiceProcess(tmp_path / "s.db", "--token-env", env_name)
            with service:
                import requests

                for headers in ({}, basic(WRONG), basic(TOKEN)):
                    r = requests.post(
                        f"{service.url}/v1/experiments",
                        json={"name": "e", "parameters": PARAMS},
                        headers=headers,
                        timeout=10,
                    )
                    assert r.status_code in (200, 401) and not secrets_in(r.text)
                assert r.status_code == 200
            logged = "".join(service.log_tail)
            assert "service_listening" in logged
            assert not secrets_in(logged)
            for path in tmp_path.iterdir():
                assert not secrets_in(path.read_bytes().decode("latin-1")), path
        finally:
            del os.environ[env_name]


class TestDatabaseFileMode:
    """The service's database (and its WAL and shm) is readable by its owner only."""

    async def test_db_is_private(self, http: aiohttp.ClientSession, tmp_path: Path) -> None:
        old = os.umask(0)  # the most permissive umask: the mode must not rely on it
        try:
            db = tmp_path / "nested" / "service.db"
            async with running_service(ServiceConfig(port=0, db=db)) as url:
                async with http.post(
                    f"{url}/v1/experiments", json={"name": "e", "parameters": PARAMS}
                ) as resp:
                    assert resp.status == 200
                files = [p for p in db.parent.iterdir() if p.name.startswith("service.db")]
                assert {p.name for p in files} >= {"service.db", "service.db-wal"}
                for path in files:
                    assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
                assert stat.S_IMODE(db.parent.stat().st_mode) & 0o022 == 0
        finally:
            os.umask(old)
