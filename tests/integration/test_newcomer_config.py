"""A newcomer's first runs with the installed console script: the shipped quickstart on a
machine whose `python` lacks scikit-learn, and an objective module beside the config."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.integration.terminal import SCRIPT, run_installed, user_env

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 300


#: A user's shell whose `PATH` holds only the system's folders (no venv `bin`).
SYSTEM_PATH_ENV = {**user_env(), "PATH": "/usr/bin:/bin"}


def run_script(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_installed([*args, "--log-format", "json"], cwd, env, timeout=TIMEOUT_S)


@pytest.mark.skipif(not SCRIPT.exists(), reason="the console script is not installed")
def test_quickstart_runs_without_the_venv_on_path(tmp_path: Path) -> None:
    """1. PATH is /usr/bin:/bin: its `python3` (if any) has no scikit-learn, and there may
       be no `python` at all.
    2. The shipped quickstart (its budget and worker count cut, its runs in tmp) runs with
       `.venv/bin/orchestrator` from the checkout, as README shows.
    3. `{python}` is the venv's interpreter: every evaluation completes."""
    probe = subprocess.run(
        ["/usr/bin/env", "python3", "-c", "import sklearn"],
        env=SYSTEM_PATH_ENV,
        capture_output=True,
        check=False,
    )
    assert probe.returncode != 0, "this PATH's python has scikit-learn: the test proves nothing"
    config = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())
    assert config["workers"]["command"][0] == "{python}"
    config["experiment"]["observation_budget"] = 4
    config["workers"]["count"] = 2
    config["run"] = {"dir": str(tmp_path / "runs"), "name": "quickstart"}
    path = tmp_path / "quickstart.yaml"
    path.write_text(yaml.safe_dump(config))
    done = run_script(["run", str(path)], REPO, SYSTEM_PATH_ENV)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4/4 observations (4 completed, 0 failed" in done.stdout


@pytest.mark.skipif(not SCRIPT.exists(), reason="the console script is not installed")
@pytest.mark.parametrize(
    ("kind", "cwd_setting"), [("async", None), ("process", None), ("async", ".")]
)
def test_objective_beside_the_config(tmp_path: Path, kind: str, cwd_setting: str | None) -> None:
    """1. `job/myobj.py` and `job/config.yaml` naming `myobj:evaluate`.
    2. The user runs `orchestrator run job/config.yaml` from the folder above (with and
       without `workers.cwd: .`, which is that folder).
    3. The module imports (in the pool's children too) and the run reaches its budget."""
    job = tmp_path / "job"
    job.mkdir()
    (job / "myobj.py").write_text(
        textwrap.dedent(
            """
            def evaluate(assignments):
                return (assignments["x"] - 0.3) ** 2
            """
        )
    )
    workers: dict[str, object] = {"kind": kind, "count": 1, "function": "myobj:evaluate"}
    if cwd_setting is not None:
        workers["cwd"] = cwd_setting
    config = {
        "experiment": {
            "name": "beside the config",
            "type": "random",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1e-1}}],
            "observation_budget": 3,
        },
        "workers": workers,
        "run": {"dir": "runs", "name": "beside"},
    }
    (job / "config.yaml").write_text(yaml.safe_dump(config))
    done = run_script(["run", "job/config.yaml"], tmp_path, user_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3/3 observations (3 completed, 0 failed" in done.stdout
