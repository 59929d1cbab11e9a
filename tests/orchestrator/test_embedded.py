"""The embedded service runs as a child process tied to the run's life."""

from __future__ import annotations

import contextlib
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
        with (
            pytest.raises(ServiceError, match="exited before listening") as info,
            anyio.fail_after(60),
        ):
            async with embedded_service(not_a_db):
                pass
        # The store raises its own error class (a StoreError), named in the message.
        assert "DatabaseError" in str(info.value) and "dir.db" in str(info.value)

    def test_stops_when_the_run_dies_even_if_a_fork_holds_its_pipe(self, tmp_path: Path) -> None:
        """1. A run starts the service, then forks a child (inheriting the pipe's end).
        2. The run is killed with -9; the forked child lives on.
        3. The service notices it was re-parented and stops within seconds."""
        import os
        import signal
        import subprocess
        import sys
        import time

        script = Path(__file__).parent / "scripts" / "embedded_parent.py"
        run = subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "f.db")], stdout=subprocess.PIPE, text=True
        )
        assert run.stdout is not None
        service_pid, child_pid = map(int, run.stdout.readline().split())
        try:
            os.kill(run.pid, signal.SIGKILL)
            run.wait(timeout=10)
            deadline = time.monotonic() + 10
            while psutil.pid_exists(service_pid) and psutil.Process(service_pid).status() != (
                psutil.STATUS_ZOMBIE
            ):
                assert time.monotonic() < deadline, "the service outlived its run"
                time.sleep(0.1)
            assert psutil.pid_exists(child_pid)  # the fork really still held the pipe
        finally:
            for pid in (child_pid, service_pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
