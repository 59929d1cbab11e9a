"""README's shared service for a team, end to end: two `orchestrator serve` processes on one
PostgreSQL database, and `orchestrator run` coordinators whose config lists both URLs
(issue 17). One service process is killed with -9 in the middle of the run: the
coordinators fail over to the other and the experiment still ends at exactly its budget,
every suggestion observed once and none left open."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUDGET = 60
TOKEN = "team-admin-token"
#: Observations stored before one service process is killed: well inside the run.
KILL_AFTER = 15


async def slow_branin(assignments: dict[str, Any]) -> float:
    """The coordinators' objective: slow enough that the run spans the kill."""
    await anyio.sleep(0.2)
    x1, x2 = float(assignments["x1"]), float(assignments["x2"])
    return (x2 - 5.1 / 39.5 * x1**2 + 5 / 3.14159 * x1 - 6) ** 2 + 10 * (1 - 0.04) * (x1 / 5)


def serve(database_url: str) -> ServiceProcess:
    """`orchestrator serve` as README shows it, the URL read from `ORCHESTRATOR_DB` so no
    password would sit in the process list."""
    process = ServiceProcess(
        None,
        "--token",
        TOKEN,
        command=("-m", "orchestrator", "serve"),
        env={"ORCHESTRATOR_DB": database_url},
    )
    process.start(timeout_s=60)
    return process


def _api(url: str, body: dict[str, Any] | None = None) -> Any:
    """GET (or POST `body`) with the admin token as HTTP Basic, as the client sends it."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{TOKEN}:".encode()).decode())
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _all(url: str) -> list[dict[str, Any]]:
    """Every item of a paged listing."""
    items: list[dict[str, Any]] = []
    before = ""
    while True:
        page = _api(f"{url}?limit=100{before}")
        items += page["data"]
        if not page["paging"]["before"]:
            return items
        before = f"&before={page['paging']['before']}"


def _logs(tmp_path: Path) -> str:
    return "\n".join(p.read_text()[-2000:] for p in sorted(tmp_path.glob("*.log")))


def _config(tmp_path: Path, name: str, urls: list[str], experiment_id: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"""
service:
  url: [{", ".join(urls)}]
  token_env: TEAM_TOKEN
experiment:
  id: '{experiment_id}'
workers:
  kind: async
  count: 4
  function: tests.integration.test_team_service:slow_branin
  timeout: 30
run:
  dir: {tmp_path / "runs"}
  name: {name}
retry:
  max_attempts: 20
  max_total_s: 120
"""
    )
    return path


def test_two_services_one_database_survive_a_kill(tmp_path: Path, postgres_url: str) -> None:
    first, second = serve(postgres_url), serve(postgres_url)
    coordinators: list[subprocess.Popen[str]] = []
    try:
        experiment = _api(
            f"{first.url}/v1/experiments",
            {
                "name": "team",
                "parameters": [
                    {"name": "x1", "type": "double", "bounds": {"min": -5, "max": 10}},
                    {"name": "x2", "type": "double", "bounds": {"min": 0, "max": 15}},
                ],
                "metrics": [{"name": "branin", "objective": "minimize"}],
                "observation_budget": BUDGET,
            },
        )
        eid = experiment["id"]
        # Each coordinator prefers a different process, as a team spreads its load.
        for name, urls in (
            ("a-first", [first.url, second.url]),
            ("b-first", [second.url, first.url]),
        ):
            coordinators.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "orchestrator",
                        "run",
                        str(_config(tmp_path, name, urls, eid)),
                        "--log-format",
                        "json",
                    ],
                    cwd=REPO,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                    env={**os.environ, "TEAM_TOKEN": TOKEN},
                )
            )
        deadline = time.monotonic() + 120
        while (
            _api(f"{second.url}/v1/experiments/{eid}")["progress"]["observation_count"] < KILL_AFTER
        ):
            assert time.monotonic() < deadline, "the run made no progress"
            for coordinator in coordinators:
                if coordinator.poll() is not None:
                    pytest.fail(f"a coordinator ended early:\n{_logs(tmp_path)}")
            time.sleep(0.05)
        first.kill()
        for coordinator in coordinators:
            assert coordinator.wait(timeout=180) == 0, _logs(tmp_path)

        observations = _all(f"{second.url}/v1/experiments/{eid}/observations")
        assert len(observations) == BUDGET
        observed = [o["suggestion"] for o in observations]
        assert None not in observed and len(set(observed)) == BUDGET  # each exactly once
        assert _api(f"{second.url}/v1/experiments/{eid}/suggestions?state=open")["data"] == []
        assert _api(f"{second.url}/v1/experiments/{eid}")["progress"]["observation_count"] == BUDGET
    finally:
        for coordinator in coordinators:
            if coordinator.poll() is None:
                os.killpg(coordinator.pid, signal.SIGKILL)
        first.kill()
        second.kill()
