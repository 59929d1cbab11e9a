"""`orchestrator run` as a user runs it: a real process, real subprocess workers, signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import psutil
import pytest
import yaml

from orchestrator.config import load_config
from orchestrator.runner import service_client
from tests.orchestrator.conftest import assert_exactly_budget

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parent / "scripts_eval.py"


def write_config(tmp_path: Path, *, budget: int, workers: int, sleep_s: float) -> Path:
    config = {
        "experiment": {
            "name": "cli test",
            "type": "random",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "observation_budget": budget,
        },
        "workers": {
            "kind": "subprocess",
            "count": workers,
            "timeout": 30,
            "command": [
                sys.executable,
                str(SCRIPT),
                "--x",
                "{x}",
                "--sleep",
                str(sleep_s),
                "--pids",
                str(tmp_path / "pids"),
            ],
        },
        "timeouts": {"drain_s": 30, "kill_grace_s": 1},
        "run": {"dir": str(tmp_path / "runs"), "name": "clitest"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "run", str(config), "--log-format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def evaluations_started(tmp_path: Path) -> int:
    pids = tmp_path / "pids"
    return len(list(pids.iterdir())) if pids.exists() else 0


def wait_for(predicate: object, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def service_processes(tmp_path: Path) -> list[psutil.Process]:
    """Live `python -m sigopt_service` processes serving this test's run folder."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        if (
            "-m service" in cmdline
            and str(tmp_path) in cmdline
            and (p.info["status"] != psutil.STATUS_ZOMBIE)
        ):
            found.append(p)
    return found


def assert_no_process_left(tmp_path: Path, coordinator: subprocess.Popen[str]) -> None:
    assert not service_processes(tmp_path), "the embedded service outlived the run"
    for pid in [coordinator.pid, *(int(p.name) for p in (tmp_path / "pids").iterdir())]:
        alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
        assert not alive, f"process {pid} outlived the run"


async def check_exact(config_path: Path, budget: int) -> None:
    config = load_config(config_path, check=False)
    async with service_client(config) as client:
        await assert_exactly_budget(client, "1", budget)


def run_to_end(config: Path, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "run", str(config), "--log-format", "json"],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


class TestCrashAndResume:
    """kill -9 of the coordinator, then the same command again: exactly the budget, none open."""

    def test_kill_nine_then_restart(self, tmp_path: Path) -> None:
        """1. Run a 30-evaluation job with 4 workers (embedded service, SQLite in the run dir).
        2. kill -9 the coordinator once ~10 evaluations have started.
        3. Run the same command again: it adopts its open suggestions and finishes.
        4. The service holds exactly 30 observations, one per suggestion, none open."""
        config = write_config(tmp_path, budget=30, workers=4, sleep_s=0.2)
        proc = start(config)
        wait_for(lambda: evaluations_started(tmp_path) >= 10)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # The embedded service (its own session, so killpg missed it) stops by itself
        # once the dead coordinator's end of its stdin pipe is closed.
        wait_for(lambda: not service_processes(tmp_path), timeout_s=10)
        time.sleep(0.5)  # orphaned evaluations finish writing to nowhere
        done = run_to_end(config)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "run_started" in done.stderr and '"adopted"' in done.stderr
        anyio.run(check_exact, config, 30)

    def test_restart_kills_what_the_crashed_run_left_running(self, tmp_path: Path) -> None:
        """1. Start a job whose evaluations take 60 s; kill -9 the coordinator.
        2. Its evaluations keep running (orphans: nothing could kill them).
        3. The same run restarted (here with quick evaluations) kills those leftover process
           groups first, then finishes the budget exactly."""
        write_config(tmp_path, budget=6, workers=3, sleep_s=60)
        proc = start(tmp_path / "config.yaml")
        wait_for(lambda: evaluations_started(tmp_path) >= 3)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        orphans = [int(p.name) for p in (tmp_path / "pids").iterdir()]
        assert all(psutil.pid_exists(pid) for pid in orphans)
        config = write_config(tmp_path, budget=6, workers=3, sleep_s=0.1)
        done = run_to_end(config)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "leftover_process_group_killed" in done.stderr
        for pid in orphans:
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
        anyio.run(check_exact, config, 6)


class TestSignals:
    """One SIGINT drains, two cancel; afterwards no process of the run is left."""

    def test_one_sigint_drains(self, tmp_path: Path) -> None:
        """1. Start a job whose evaluations take 1 s.
        2. Once 3 evaluations run, send SIGINT.
        3. They finish and are reported; the run exits 130; nothing is open or alive."""
        config = write_config(tmp_path, budget=50, workers=3, sleep_s=1.0)
        proc = start(config)
        wait_for(lambda: evaluations_started(tmp_path) >= 3)
        # As a terminal's Ctrl-C does: to the whole foreground process group. The embedded
        # service (its own session) must not get it: the drain still needs it.
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err[-3000:]
        assert "drain_started" in err
        assert_no_process_left(tmp_path, proc)

        async def check() -> None:
            config_obj = load_config(config, check=False)
            async with service_client(config_obj) as client:
                observations = await client.observations("1")
                assert len(observations) == evaluations_started(tmp_path)
                assert not any(o.failed for o in observations)
                assert await client.open_suggestions("1") == []

        anyio.run(check)

    def test_two_sigints_cancel(self, tmp_path: Path) -> None:
        """1. Start a job whose evaluations take 60 s.
        2. SIGINT, then SIGINT again: evaluations are cancelled (process groups killed).
        3. Nothing is reported failed; their suggestions stay open for resume; no process
           of the run is left."""
        config = write_config(tmp_path, budget=10, workers=3, sleep_s=60)
        proc = start(config)
        wait_for(lambda: evaluations_started(tmp_path) >= 3)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err[-3000:]
        assert_no_process_left(tmp_path, proc)

        async def check() -> None:
            config_obj = load_config(config, check=False)
            async with service_client(config_obj) as client:
                assert await client.observations("1") == []
                assert len(await client.open_suggestions("1")) == 3

        anyio.run(check)


class TestQueries:
    """`status`, `best` and `suggestions` read a finished run from the service."""

    def test_status_best_suggestions(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        import json

        from orchestrator.cli import main

        config = write_config(tmp_path, budget=4, workers=2, sleep_s=0.01)
        assert run_to_end(config).returncode == 0
        capsys.readouterr()
        assert main(["status", "1", "--config", str(config), "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["observation_count"] == 4 and status["open_suggestions"] == 0
        assert main(["best", "1", "--config", str(config), "--json"]) == 0
        best = json.loads(capsys.readouterr().out)
        assert len(best) == 1 and 0 <= best[0]["value"] <= 1
        assert main(["suggestions", "1", "--config", str(config), "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == []
        assert main(["status", "1"]) == 2  # neither --api-url nor --config


class TestErrorsAtTheCli:
    """Errors raised inside the job's task groups reach the user as one clear line."""

    def test_unknown_experiment_id(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from orchestrator.cli import main

        config = write_config(tmp_path, budget=4, workers=2, sleep_s=0.01)
        code = main(["run", str(config), "--experiment-id", "999", "--log-format", "json"])
        out = capsys.readouterr()
        assert code == 1
        assert "error:" in out.out and "No experiment 999" in out.out
        assert "Traceback" not in out.out + out.err
