"""`orchestrator run` with a bad config exits 2 and sends nothing to the service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from orchestrator.cli import main
from tests.orchestrator.config_cases import (
    VALID,
)


class TestCliConfigError:
    """`orchestrator run` with a bad config exits 2, names the key and the file, and sends
    nothing to the service."""

    @pytest.fixture
    async def counting_service(self) -> AsyncIterator[tuple[str, list[str]]]:
        """A stand-in service on loopback that records every request it gets."""
        seen: list[str] = []

        async def record(request: web.Request) -> web.Response:
            seen.append(f"{request.method} {request.path}")
            return web.json_response({}, status=500)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", record)
        async with TestServer(app, host="127.0.0.1", port=0) as server:
            yield str(server.make_url("")).rstrip("/"), seen

    async def test_stand_in_counts_requests(self, counting_service: tuple[str, list[str]]) -> None:
        """The stand-in does record requests, so the zero counts below mean something."""
        url, seen = counting_service
        async with ClientSession() as session, session.get(f"{url}/v1/experiments") as response:
            assert response.status == 500
        assert seen == ["GET /v1/experiments"]

    @pytest.mark.parametrize(
        ("broken", "key"),
        [
            (VALID.replace("count: 4", "count: four"), "workers.count"),
            (
                VALID.replace("{min: 0, max: 15}", "{min: 15, max: 0}"),
                "experiment.parameters[1].bounds",
            ),
            (VALID.replace(":branin_async", ":nope_fn"), "workers.function"),
        ],
        ids=["wrong-type", "bad-definition", "function-missing"],
    )
    async def test_exit_code_2(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        counting_service: tuple[str, list[str]],
        broken: str,
        key: str,
    ) -> None:
        """Exit code 2, a "config error" line naming key and file, and zero requests."""
        url, seen = counting_service
        monkeypatch.setenv("COLUMNS", "1000")  # keep rich from wrapping the message
        path = tmp_path / "broken.yaml"
        path.write_text(broken + f"service:\n  url: {url}\n")
        assert main(["run", str(path)]) == 2
        out = " ".join(capsys.readouterr().out.split())
        assert f"config error: {key}: " in out
        assert f"(in {path})" in out
        assert seen == []

    async def test_flag_error_sends_nothing(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        counting_service: tuple[str, list[str]],
    ) -> None:
        """A bad --workers is a config error too, reported under `workers.count`."""
        url, seen = counting_service
        monkeypatch.setenv("COLUMNS", "1000")
        path = tmp_path / "ok.yaml"
        path.write_text(VALID)
        assert main(["run", str(path), "--workers", "0", "--api-url", url]) == 2
        out = " ".join(capsys.readouterr().out.split())
        assert "config error: workers.count: " in out and "--workers" in out
        assert seen == []
