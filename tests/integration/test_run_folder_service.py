"""A run folder remembers the service its experiment lives on: a run made with `--api-url`
is found again without it (`run`, `status`/`best`/`suggestions`/`observations --config`),
and a config or flag naming another service is exit 2 before any service starts. Against
a real standalone service (`python -m sigopt_service --port 0`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sigopt import Connection

from orchestrator.cli import main
from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[2]
NOWHERE = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a standalone service, shared by the tests (each makes its own experiment)."""
    with ServiceProcess(tmp_path_factory.mktemp("service") / "service.db") as process:
        yield process.url


def write_config(folder: Path, budget: int = 2) -> Path:
    config: dict[str, Any] = {
        "experiment": {
            "name": "remote",
            "type": "random",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "metrics": [{"name": "score", "objective": "maximize"}],
            "observation_budget": budget,
        },
        "workers": {
            "kind": "async",
            "count": 1,
            "function": "tests.orchestrator.objectives:constant",
        },
        "run": {"dir": str(folder / "runs"), "name": "t"},
    }
    path = folder / "t.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def orchestrator_run(config: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """`orchestrator run CONFIG [flags] --log-format json`, as a user starts it."""
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "run", str(config), *flags, "--log-format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "1000"},
    )


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def state_of(config: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((config.parent / "runs/t/state.json").read_text())
    return loaded


def embedded_db(config: Path) -> Path:
    return config.parent / "runs/t/service.db"


class TestRecordedService:
    """What a run made with `--api-url` leaves in its folder finds the experiment again."""

    def test_queries_without_the_flag(
        self, service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """1. `run t.yaml --api-url URL` (config without service.url): state.json records URL.
        2. Each query with `--config t.yaml` alone answers about that experiment, on URL.
        3. No embedded service was started: no `service.db` in the run folder."""
        config = write_config(tmp_path)
        done = orchestrator_run(config, "--api-url", service)
        assert done.returncode == 0, done.stdout + done.stderr
        state = state_of(config)
        assert state["service"] == service
        eid = state["experiment_id"]
        for command in ("status", "best", "suggestions", "observations"):
            code, out = cli(capsys, command, "--config", str(config), "--json")
            assert code == 0, (command, out)
            data = json.loads(out)
            if command == "status":
                assert (data["id"], data["observation_count"]) == (eid, 2)
            elif command == "observations":
                assert (data["experiment"], data["observation_count"]) == (eid, 2)
        assert not embedded_db(config).exists()

    def test_run_again_without_the_flag(self, service: str, tmp_path: Path) -> None:
        """1. `run t.yaml --api-url URL` with budget 2.
        2. The budget raised to 3, `run t.yaml` alone continues the same experiment on URL:
           exit 0, one more observation, no new experiment, no `service.db`."""
        config = write_config(tmp_path)
        first = orchestrator_run(config, "--api-url", service)
        assert first.returncode == 0, first.stdout + first.stderr
        eid = state_of(config)["experiment_id"]
        write_config(tmp_path, budget=3)
        again = orchestrator_run(config)
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"(experiment {eid}, service {service})" in again.stdout
        logged = again.stdout + again.stderr
        assert '"event": "service_from_run_folder"' in logged
        assert '"event": "experiment_created"' not in logged
        assert "3/3 observations" in again.stdout
        assert not embedded_db(config).exists()


class TestAnotherService:
    """A config or flag naming another service than the recorded one: exit 2, naming both,
    before any service is asked or started."""

    def test_run_and_query_with_another_url(
        self, service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        config = write_config(tmp_path)
        done = orchestrator_run(config, "--api-url", service)
        assert done.returncode == 0, done.stdout + done.stderr
        eid = state_of(config)["experiment_id"]
        expected = (
            f"config error: service.url: experiment {eid} of the run folder "
            f"{tmp_path / 'runs/t'} lives on {service}, not on {NOWHERE}: pass --api-url "
            f"{service} (a new `run.name` starts a new experiment there)"
        )
        again = orchestrator_run(config, "--api-url", NOWHERE)
        assert again.returncode == 2, again.stdout + again.stderr
        assert expected in again.stdout
        code, out = cli(capsys, "status", "--config", str(config), "--api-url", NOWHERE)
        assert code == 2
        assert expected in " ".join(out.split())
        assert not embedded_db(config).exists()

    def test_embedded_folder_refuses_a_url(
        self, service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A folder whose experiment is on its embedded service records `embedded`; a URL
        for it is exit 2, and without one the embedded service answers as before."""
        config = write_config(tmp_path)
        done = orchestrator_run(config)
        assert done.returncode == 0, done.stdout + done.stderr
        assert state_of(config)["service"] == "embedded"
        code, out = cli(capsys, "status", "--config", str(config), "--api-url", service)
        assert code == 2
        assert "lives on its embedded service, not on " + service in " ".join(out.split())
        code, out = cli(capsys, "status", "--config", str(config), "--json")
        assert code == 0 and json.loads(out)["observation_count"] == 2


class TestOldStateFile:
    def test_no_record_is_not_checked_then_recorded(
        self, service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """1. A remote run's state.json without `service`, as older versions wrote it.
        2. `run --api-url URL` with a raised budget continues (no check), and records URL.
        3. `status --config` alone then finds the experiment on URL."""
        config = write_config(tmp_path)
        done = orchestrator_run(config, "--api-url", service)
        assert done.returncode == 0, done.stdout + done.stderr
        state = state_of(config)
        del state["service"]
        (tmp_path / "runs/t/state.json").write_text(json.dumps(state))
        write_config(tmp_path, budget=3)
        again = orchestrator_run(config, "--api-url", service)
        assert again.returncode == 0, again.stdout + again.stderr
        assert state_of(config)["service"] == service
        code, out = cli(capsys, "status", "--config", str(config), "--json")
        assert code == 0, out
        assert json.loads(out)["observation_count"] == 3
        assert not embedded_db(config).exists()


def test_the_failure_hint_names_the_service_the_run_used(
    service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run with `--experiment-id` and `--api-url` records no experiment in its folder:
    the end-of-run hint names that service (not the config, whose embedded service has no
    such experiment), and runs as printed."""
    config = write_config(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["workers"]["function"] = "tests.orchestrator.objectives:always_fails"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    created = (
        Connection(client_token="t", api_url=service).experiments().create(**raw["experiment"])
    )
    done = orchestrator_run(config, "--api-url", service, "--experiment-id", str(created.id))
    hint = next(line for line in done.stdout.splitlines() if "all failed observations" in line)
    assert f"--api-url {service}" in hint and "--config" not in hint, done.stdout
    argv = hint.split(": ", 1)[1].split()
    assert argv[:2] == ["orchestrator", "observations"]
    code, out = cli(capsys, *argv[1:])
    assert code == 0, out
    assert "2 failed" in out
    assert not embedded_db(config).exists()
