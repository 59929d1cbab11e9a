"""The embedded service runs as a child process tied to the run's life."""

from __future__ import annotations

from pathlib import Path

import anyio
import psutil
import pytest

from orchestrator.client import ServiceClient
from orchestrator.embedded import embedded_service
from orchestrator.errors import ServiceError


class TestEmbeddedService:
    """It serves the API on a free port, stops with its context, and says why it failed."""

    async def test_serves_then_stops(self, tmp_path: Path) -> None:
        with anyio.fail_after(60):
            async with embedded_service(tmp_path / "e.db") as url:
                async with ServiceClient(url) as client:
                    e = await client.create_experiment(
                        {
                            "name": "e",
                            "observation_budget": 1,
                            "parameters": [
                                {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}
                            ],
                        }
                    )
                    assert (await client.get_experiment(e.id)).name == "e"
                children = [
                    p for p in psutil.Process().children() if "service" in " ".join(p.cmdline())
                ]
                assert len(children) == 1
            assert not children[0].is_running() or (children[0].status() == psutil.STATUS_ZOMBIE)
        assert (tmp_path / "e.db").exists()

    async def test_start_failure_names_the_cause(self, tmp_path: Path) -> None:
        not_a_db = tmp_path / "dir.db"
        not_a_db.mkdir()  # a folder where the database file should be
        with pytest.raises(ServiceError, match="exited before listening"), anyio.fail_after(60):
            async with embedded_service(not_a_db):
                pass
