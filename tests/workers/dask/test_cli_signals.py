"""`orchestrator run` of kind `dask` on its own LocalCluster, stopped as a terminal's Ctrl-C
stops it: SIGINT to the whole foreground process group, which holds the LocalCluster's
worker processes too. One drains, two cancel; no process of the run is left either way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
import yaml

from orchestrator.config import load_config
from orchestrator.runner import service_client
from tests.workers.dask.support import (
    REPO,
    alive,
    command,
    reaper_pids,
    recorded_pids,
)

pytestmark = pytest.mark.slow


def write_config(tmp_path: Path, sleep_s: float) -> tuple[Path, Path]:
    argv, pids = command(tmp_path, sleep_s)
    config = {
        "experiment": {
            "name": "dask signals",
            "type": "random",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "metrics": [{"name": "value", "objective": "maximize"}],
            "observation_budget": 20,
        },
        "workers": {"kind": "dask", "count": 2, "command": argv},
        "timeouts": {"kill_grace_s": 1},
        "run": {"dir": str(tmp_path / "runs")},
    }
    path = tmp_path / "dask.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, pids


def start(config: Path) -> subprocess.Popen[str]:
    # Its own process group, as a shell gives a foreground job: the SIGINTs below reach
    # the run and everything in its group, the LocalCluster's workers included.
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "run", str(config), "--log-format", "json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_two(pids: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while len(recorded_pids(pids)) < 2:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"evaluations did not start: {proc.communicate()[1][-3000:]}")
        time.sleep(0.05)


async def observations_and_open(config: Path) -> tuple[int, int, int]:
    async with service_client(load_config(config, check=False)) as client:
        observations = await client.observations("1")
        failed = sum(1 for o in observations if o.failed)
        return len(observations), failed, len(await client.open_suggestions("1"))


def wait_no_reapers_beyond(before: set[int]) -> set[int]:
    deadline = time.monotonic() + 10
    while (left := reaper_pids() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


class TestSignals:
    """Ctrl-C reaches the LocalCluster's workers too; the run, not they, decides."""

    def test_one_sigint_drains(self, tmp_path: Path) -> None:
        """1. Two 2 s evaluations run on the LocalCluster.
        2. SIGINT to the run's process group.
        3. They finish on the Dask workers (which ignore the SIGINT) and are reported,
           not failed; the run exits 130; no command, no reaper is left."""
        before = reaper_pids()
        config, pids = write_config(tmp_path, sleep_s=2.0)
        proc = start(config)
        wait_for_two(pids, proc)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err[-3000:]
        assert "drain_started" in err
        observed, failed, open_ = anyio.run(observations_and_open, config)
        assert (observed, failed, open_) == (len(recorded_pids(pids)), 0, 0), err[-3000:]
        assert alive(recorded_pids(pids)) == []
        assert wait_no_reapers_beyond(before) == set()

    def test_two_sigints_cancel(self, tmp_path: Path) -> None:
        """1. Two evaluations of a minute run on the LocalCluster.
        2. SIGINT, then SIGINT again, to the run's process group.
        3. The run exits 130 at once; nothing is reported failed, both suggestions stay
           open for the resume; the commands are gone, as are the Dask workers' reapers."""
        before = reaper_pids()
        config, pids = write_config(tmp_path, sleep_s=60)
        proc = start(config)
        wait_for_two(pids, proc)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err[-3000:]
        assert anyio.run(observations_and_open, config) == (0, 0, 2)
        assert alive(recorded_pids(pids)) == []
        assert wait_no_reapers_beyond(before) == set()
