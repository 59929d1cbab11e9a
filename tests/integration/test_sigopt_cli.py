"""The official `sigopt` 8.8.3 CLI and module-level API as real subprocesses against the
service (issue 14 items 1 and 2): `sigopt create project`, `sigopt optimize -e
experiment.yml <command>`, `sigopt run <command>`, `sigopt create experiment` with
`sigopt start-worker`, and a script using `sigopt.create_experiment` as SigOpt's docs do.

Offline: the client reads `SIGOPT_API_URL` / `SIGOPT_API_TOKEN`; its config folder is the
test's (`SIGOPT_HOME`), its working directory no git repository (it looks for a commit
hash there, locally), and every proxy variable points at a closed port with only
loopback exempt, so a request to any other host would fail the command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from base64 import b64encode
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

VENV_BIN = Path(sys.executable).parent
SIGOPT = str(VENV_BIN / "sigopt")
PYTHON = sys.executable
TIMEOUT_S = 120

EXPERIMENT_YML = """\
name: CLI experiment
parameters:
  - name: x
    type: double
    bounds: {min: -2.0, max: 2.0}
  - name: kind
    type: categorical
    categorical_values: [a, b]
metrics:
  - name: score
    objective: maximize
budget: 5
parallel_bandwidth: 1
"""

#: A training script written for `sigopt optimize`: its 2nd run logs a failure, its 4th
#: exits with status 3 (a failed observation too: it logged no metric).
TRAIN_PY = """\
import pathlib, sys
import sigopt
count = pathlib.Path("count.txt")
n = int(count.read_text()) + 1 if count.exists() else 1
count.write_text(str(n))
sigopt.log_metadata("kind", sigopt.params.kind)
if n == 2:
    sigopt.log_failure()
elif n == 4:
    sys.exit(3)
else:
    sigopt.log_metric("score", -(sigopt.params.x - 0.3) ** 2)
print("trained", n)
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The user's folder, named as the project it stands for (the client's default)."""
    folder = tmp_path / "cli-project"
    folder.mkdir()
    (folder / "experiment.yml").write_text(EXPERIMENT_YML)
    (folder / "train.py").write_text(TRAIN_PY)
    return folder


@pytest.fixture
def env(tmp_path: Path, threaded_service_url: str) -> dict[str, str]:
    dead_proxy = "http://127.0.0.1:9"
    base = {k: v for k, v in os.environ.items() if not k.startswith("SIGOPT_")}
    return {
        **base,
        "SIGOPT_API_URL": threaded_service_url,
        "SIGOPT_API_TOKEN": "cli-token",
        "SIGOPT_HOME": str(tmp_path / "sigopt-home"),
        "HTTP_PROXY": dead_proxy,
        "HTTPS_PROXY": dead_proxy,
        "http_proxy": dead_proxy,
        "https_proxy": dead_proxy,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "GIT_CEILING_DIRECTORIES": str(tmp_path),
    }


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert done.returncode == 0, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _get(env: dict[str, str], path: str) -> Any:
    request = urllib.request.Request(f"{env['SIGOPT_API_URL']}{path}")
    token = b64encode(f"{env['SIGOPT_API_TOKEN']}:".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return json.loads(response.read())


class TestCli:
    """The CLI runs to completion against the service; the client decides the loop."""

    def test_create_project_then_optimize(self, workdir: Path, env: dict[str, str]) -> None:
        """1. `sigopt create project` names it after the folder. 2. `sigopt optimize`
        creates the AI experiment of the YAML file and runs the command once per run until
        the budget is spent: 5 runs. 3. The log_failure run and the exit-status-3 run are
        failed observations; the other three carry the metric."""
        created = _run([SIGOPT, "create", "project"], workdir, env)
        assert "Project 'cli-project' created." in created.stdout + created.stderr
        _run([SIGOPT, "optimize", "-e", "experiment.yml", PYTHON, "train.py"], workdir, env)
        assert (workdir / "count.txt").read_text() == "5"
        [experiment] = _get(env, "/v1/aiexperiments")["data"]
        assert experiment["project"] == "cli-project" and experiment["budget"] == 5
        assert experiment["progress"]["finished_run_count"] == 5
        assert experiment["progress"]["remaining_budget"] == 0
        observations = _get(env, f"/v1/experiments/{experiment['id']}/observations")["data"]
        assert len(observations) == 5 and sum(o["failed"] for o in observations) == 2
        runs = _get(env, f"/v1/experiments/{experiment['id']}/training_runs")["data"]
        assert len(runs) == 5 and all(r["metadata"]["kind"] in ("a", "b") for r in runs)
        assert sum(r["state"] == "failed" for r in runs) == 1  # log_failure's
        best = _get(env, f"/v1/aiexperiments/{experiment['id']}/best_training_runs")["data"]
        assert len(best) == 1 and "score" in best[0]["values"]

    def test_run_with_run_file_and_source(self, workdir: Path, env: dict[str, str]) -> None:
        """`sigopt run` with `run.yml` (its name and command): one run in the project, its
        parameters the script's defaults, its source file stored."""
        (workdir / "fit.py").write_text(
            textwrap.dedent(
                """\
                import sigopt
                sigopt.params.setdefaults(lr=0.1, layers=2)
                sigopt.log_metric("loss", sigopt.params.lr * sigopt.params.layers)
                sigopt.log_model("mlp")
                """
            )
        )
        (workdir / "run.yml").write_text(f"name: fit once\nrun: {PYTHON} fit.py\n")
        env = {**env, "SIGOPT_PROJECT": "runs-here"}
        _run([SIGOPT, "create", "project"], workdir, env)
        _run([SIGOPT, "run", "--source-file", "fit.py"], workdir, env)
        [run] = _get(env, "/v1/clients/1/projects/runs-here/training_runs")["data"]
        assert (run["name"], run["state"], run["experiment"]) == ("fit once", "completed", None)
        assert run["assignments"] == {"lr": 0.1, "layers": 2}
        assert run["values"]["loss"]["value"] == pytest.approx(0.2)
        assert run["model"]["type"] == "mlp"
        assert run["source_code"]["content"] == (workdir / "fit.py").read_text()

    def test_create_experiment_then_start_worker(self, workdir: Path, env: dict[str, str]) -> None:
        """`sigopt create experiment` makes the AI experiment; `sigopt start-worker ID`
        runs its loop to the budget."""
        _run([SIGOPT, "create", "project"], workdir, env)
        _run([SIGOPT, "create", "experiment", "-e", "experiment.yml"], workdir, env)
        [experiment] = _get(env, "/v1/aiexperiments")["data"]
        assert experiment["progress"]["total_run_count"] == 0
        _run([SIGOPT, "start-worker", experiment["id"], PYTHON, "train.py"], workdir, env)
        done = _get(env, f"/v1/aiexperiments/{experiment['id']}")
        assert done["progress"]["finished_run_count"] == 5


ISSUE_SNIPPET = """\
import sigopt

def train(lr, depth):
    return 1 - (lr - 0.05) ** 2 - 0.01 * depth

experiment = sigopt.create_experiment(
    name="m",
    parameters=[
        dict(name="lr", type="double", bounds=dict(min=0.001, max=0.1)),
        dict(name="depth", type="int", bounds=dict(min=1, max=4)),
    ],
    metrics=[dict(name="accuracy", objective="maximize")],
    budget=6,
    parallel_bandwidth=4,
)
for i, run in enumerate(experiment.loop()):
    with run:
        if i == 2:
            run.log_failure()
            continue
        acc = train(run.params.lr, run.params.depth)
        run.log_metric("accuracy", acc)
best = list(experiment.get_best_runs())
with sigopt.create_run(name="outside") as lone:
    lone.params.seed = 7
    lone.log_metric("accuracy", 0.5)
print(experiment.id, len(best), best[0].values["accuracy"].value, lone.id)
"""


def test_issue_snippet_with_the_module_api(workdir: Path, env: dict[str, str]) -> None:
    """The AI-module loop as the issue (and SigOpt's docs) write it, `sigopt.*` functions
    reading the environment: it ends at the budget, the best run is the best metric."""
    env = {**env, "SIGOPT_PROJECT": "snippet"}
    _run([SIGOPT, "create", "project"], workdir, env)
    (workdir / "snippet.py").write_text(ISSUE_SNIPPET)
    done = _run([PYTHON, "snippet.py"], workdir, env)
    eid, best_count, best_value, lone_id = done.stdout.split()[-4:]
    assert best_count == "1"
    experiment = _get(env, f"/v1/aiexperiments/{eid}")
    assert experiment["progress"]["total_run_count"] == 6
    observations = _get(env, f"/v1/experiments/{eid}/observations")["data"]
    assert sum(o["failed"] for o in observations) == 1
    assert float(best_value) == max(o["value"] for o in observations if not o["failed"])
    lone = _get(env, f"/v1/training_runs/{lone_id}")
    assert lone["experiment"] is None and lone["assignments"] == {"seed": 7}
