"""`orchestrator run` again on a finished run folder, as a user does it: a raised budget
continues the same experiment; a changed search space or metric is exit 2 naming the field."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from orchestrator.client import ServiceClient
from orchestrator.config import load_config
from orchestrator.errors import ServiceRejected
from orchestrator.runner import service_client
from tests.orchestrator.conftest import assert_exactly_budget

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[2]
FIRST_BUDGET = 4


def config_dict(tmp_path: Path, budget: int = FIRST_BUDGET) -> dict[str, Any]:
    return {
        "experiment": {
            "name": "extend me",
            "type": "random",
            "parameters": [
                {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
                {"name": "gamma", "type": "double", "bounds": {"min": 0.1, "max": 1.0}},
            ],
            "metrics": [{"name": "score", "objective": "maximize"}],
            "observation_budget": budget,
        },
        "workers": {
            "kind": "async",
            "count": 2,
            "function": "tests.orchestrator.objectives:constant",
        },
        "run": {"dir": str(tmp_path / "runs"), "name": "sub"},
    }


def write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def orchestrator_run(config: Path) -> subprocess.CompletedProcess[str]:
    """`orchestrator run CONFIG --log-format json` in a child process; COLUMNS keeps rich
    from wrapping the one-line messages asserted below."""
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "run", str(config), "--log-format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "1000"},
    )


def events(result: subprocess.CompletedProcess[str], name: str) -> list[dict[str, Any]]:
    """The JSON log events called `name` the run wrote (stdout or stderr)."""
    found = []
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


def state_of(tmp_path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((tmp_path / "runs" / "sub" / "state.json").read_text())
    return loaded


async def has_second_experiment(client: ServiceClient) -> bool:
    """Whether the service holds an experiment 2 (ids count up from 1)."""
    try:
        await client.get_experiment("2")
    except ServiceRejected as exc:
        assert exc.status == 404
        return False
    return True


def service_view(config: Path) -> dict[str, Any]:
    """Experiments in the run folder's database, and experiment 1's observations/budget."""

    async def look() -> dict[str, Any]:
        async with service_client(load_config(config, check=False)) as client:
            experiment = await client.get_experiment("1")
            return {
                "has_second": await has_second_experiment(client),
                "observed": len(await client.observations("1")),
                "budget": experiment.observation_budget,
                "name": experiment.name,
                "parallel_bandwidth": experiment.parallel_bandwidth,
            }

    return anyio.run(look)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder whose run of budget FIRST_BUDGET has ended (made once, copied per test)."""
    tmp = tmp_path_factory.mktemp("finished")
    result = orchestrator_run(write(tmp, config_dict(tmp)))
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp / "runs"


@pytest.fixture
def run_folder(finished_run: Path, tmp_path: Path) -> Path:
    """This test's copy of the finished run folder, at tmp_path/runs/sub."""
    shutil.copytree(finished_run, tmp_path / "runs")
    return tmp_path / "runs" / "sub"


class TestFirstRun:
    def test_ends_at_its_budget(self, run_folder: Path, tmp_path: Path) -> None:
        """A run of budget N ends with N observations, its definition kept in state.json."""
        config = write(tmp_path, config_dict(tmp_path))
        view = service_view(config)
        assert (view["has_second"], view["observed"]) == (False, FIRST_BUDGET)
        state = state_of(tmp_path)
        assert state["experiment_id"] == "1"
        assert state["definition"]["parameters"][1]["bounds"] == {"min": 0.1, "max": 1.0}


class TestExtend:
    """The same command with a raised budget continues the same experiment."""

    def test_raised_budget_evaluates_exactly_the_difference(
        self, run_folder: Path, tmp_path: Path
    ) -> None:
        """1. A run of budget 4 has ended (fixture).
        2. The same config with budget 4 + 3 runs again: exit 0, the same experiment,
           updated (one `experiment_updated` naming the budget), none created.
        3. This run evaluated exactly 3; the experiment has exactly 7, none open."""
        config = write(tmp_path, config_dict(tmp_path, budget=FIRST_BUDGET + 3))
        result = orchestrator_run(config)
        assert result.returncode == 0, result.stdout + result.stderr
        assert events(result, "experiment_created") == []
        [updated] = events(result, "experiment_updated")
        assert updated["experiment_id"] == "1"
        assert updated["fields"] == ["observation_budget"]
        assert updated["changes"] == {"observation_budget": [FIRST_BUDGET, FIRST_BUDGET + 3]}
        [finished] = events(result, "run_finished")
        assert (finished["experiment_id"], finished["reason"]) == ("1", "budget_reached")
        assert (finished["completed"], finished["failed"]) == (3, 0)
        assert "7/7 observations (3 completed, 0 failed this run)" in result.stdout
        assert state_of(tmp_path)["definition"]["observation_budget"] == FIRST_BUDGET + 3

        async def exact() -> None:
            async with service_client(load_config(config, check=False)) as client:
                await assert_exactly_budget(client, "1", FIRST_BUDGET + 3)
                assert not await has_second_experiment(client)

        anyio.run(exact)

    def test_name_and_bandwidth_update_the_experiment(
        self, run_folder: Path, tmp_path: Path
    ) -> None:
        """A new name and worker count update the experiment; nothing more is evaluated."""
        config_data = config_dict(tmp_path)
        config_data["experiment"]["name"] = "renamed"
        config_data["workers"]["count"] = 3
        config = write(tmp_path, config_data)
        result = orchestrator_run(config)
        assert result.returncode == 0, result.stdout + result.stderr
        [updated] = events(result, "experiment_updated")
        assert updated["fields"] == ["name", "parallel_bandwidth"]
        [finished] = events(result, "run_finished")
        assert (finished["reason"], finished["completed"]) == ("budget_reached", 0)
        view = service_view(config)
        assert (view["name"], view["parallel_bandwidth"]) == ("renamed", 3)
        assert view["observed"] == FIRST_BUDGET

    def test_unchanged_config_updates_nothing(self, run_folder: Path, tmp_path: Path) -> None:
        """The same command again ends at once, with no update and no new experiment."""
        result = orchestrator_run(write(tmp_path, config_dict(tmp_path)))
        assert result.returncode == 0, result.stdout + result.stderr
        assert events(result, "experiment_updated") == []
        assert events(result, "experiment_created") == []
        [finished] = events(result, "run_finished")
        assert (finished["reason"], finished["completed"]) == ("budget_reached", 0)


def bound_raised(config: dict[str, Any]) -> None:
    config["experiment"]["parameters"][1]["bounds"]["max"] = 10.0


def parameter_added(config: dict[str, Any]) -> None:
    config["experiment"]["parameters"].append(
        {"name": "depth", "type": "int", "bounds": {"min": 1, "max": 9}}
    )


def objective_flipped(config: dict[str, Any]) -> None:
    config["experiment"]["metrics"][0]["objective"] = "minimize"


def metric_renamed(config: dict[str, Any]) -> None:
    config["experiment"]["metrics"][0]["name"] = "score2"


def type_changed(config: dict[str, Any]) -> None:
    config["experiment"]["type"] = "offline"


class TestFixedPartChanged:
    """A change to the search space or the metrics is exit 2, naming the field, and
    leaves the experiment as it was."""

    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            (
                bound_raised,
                "config error: experiment.parameters[1].bounds.max: changed from 1.0 to 10.0 "
                "(parameter gamma); the experiment's search space is fixed: give a new "
                "`run.name`, or remove {run_dir}",
            ),
            (
                parameter_added,
                "config error: experiment.parameters[2]: parameter depth added; the "
                "experiment's search space is fixed",
            ),
            (
                objective_flipped,
                "config error: experiment.metrics[0].objective: changed from 'maximize' to "
                "'minimize' (metric score); the experiment's metrics are fixed",
            ),
            (
                type_changed,
                "config error: experiment.type: changed from 'random' to 'offline'; the "
                "experiment's search space is fixed",
            ),
            (
                metric_renamed,
                "config error: experiment.metrics[0]: metric score removed, score2 added; "
                "the experiment's metrics are fixed",
            ),
        ],
        ids=["bound", "parameter-added", "metric-objective", "type", "metric-renamed"],
    )
    def test_exit_2_names_the_field(
        self, run_folder: Path, tmp_path: Path, change: Any, expected: str
    ) -> None:
        config_data = config_dict(tmp_path, budget=FIRST_BUDGET + 3)
        change(config_data)
        config = write(tmp_path, config_data)
        result = orchestrator_run(config)
        assert result.returncode == 2, result.stdout + result.stderr
        assert expected.format(run_dir=run_folder) in result.stdout
        assert events(result, "experiment_updated") == []
        assert events(result, "run_started") == []
        view = service_view(config)
        assert (view["has_second"], view["observed"]) == (False, FIRST_BUDGET)
        assert view["budget"] == FIRST_BUDGET


class TestLoweredBudget:
    """A budget below what is observed is refused; down to exactly that, the run ends."""

    def test_below_observed_is_exit_2(self, run_folder: Path, tmp_path: Path) -> None:
        config = write(tmp_path, config_dict(tmp_path, budget=FIRST_BUDGET - 1))
        result = orchestrator_run(config)
        assert result.returncode == 2, result.stdout + result.stderr
        assert (
            f"config error: experiment.observation_budget: {FIRST_BUDGET - 1} is below the "
            f"{FIRST_BUDGET} observations experiment 1 already has: give at least {FIRST_BUDGET}"
        ) in result.stdout
        assert service_view(config)["budget"] == FIRST_BUDGET

    def test_down_to_observed_ends_at_once(self, run_folder: Path, tmp_path: Path) -> None:
        """1. The finished run's experiment is made to look interrupted: budget 9 in the
           service and in state.json, 4 observed.
        2. The config with budget 4 runs: exit 0, the budget updated 9 -> 4, the run ends
           at once as budget_reached, nothing evaluated."""
        config = write(tmp_path, config_dict(tmp_path))

        async def interrupted_at_nine() -> None:
            async with service_client(load_config(config, check=False)) as client:
                await client.update_experiment("1", {"observation_budget": 9})

        anyio.run(interrupted_at_nine)
        state = state_of(tmp_path)
        state["definition"]["observation_budget"] = 9
        (run_folder / "state.json").write_text(json.dumps(state))
        result = orchestrator_run(config)
        assert result.returncode == 0, result.stdout + result.stderr
        [updated] = events(result, "experiment_updated")
        assert updated["changes"] == {"observation_budget": [9, FIRST_BUDGET]}
        [finished] = events(result, "run_finished")
        assert (finished["reason"], finished["completed"]) == ("budget_reached", 0)
        view = service_view(config)
        assert (view["budget"], view["observed"]) == (FIRST_BUDGET, FIRST_BUDGET)


class TestOldStateFile:
    """A state.json written before the definition was kept (only its hash) still works."""

    @pytest.fixture
    def old_state(self, run_folder: Path) -> None:
        path = run_folder / "state.json"
        state = json.loads(path.read_text())
        del state["definition"]
        path.write_text(json.dumps(state))

    def test_raised_budget_continues(
        self, run_folder: Path, old_state: None, tmp_path: Path
    ) -> None:
        result = orchestrator_run(write(tmp_path, config_dict(tmp_path, budget=FIRST_BUDGET + 2)))
        assert result.returncode == 0, result.stdout + result.stderr
        [updated] = events(result, "experiment_updated")
        assert updated["fields"] == ["observation_budget"]
        [finished] = events(result, "run_finished")
        assert (finished["experiment_id"], finished["completed"]) == ("1", 2)
        assert "definition" in state_of(tmp_path)  # upgraded

    def test_changed_bound_gives_the_old_message(
        self, run_folder: Path, old_state: None, tmp_path: Path
    ) -> None:
        config_data = config_dict(tmp_path)
        bound_raised(config_data)
        result = orchestrator_run(write(tmp_path, config_data))
        assert result.returncode == 2, result.stdout + result.stderr
        assert (
            f"config error: experiment: the run folder {run_folder} belongs to experiment 1, "
            "created from a different definition"
        ) in result.stdout
