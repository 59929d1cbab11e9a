"""Issue 14 item 3: a script written for `sigopt optimize` runs unchanged, in parallel,
under `orchestrator run` with no extra config key: `sigopt.params` are the suggestion's
assignments, `sigopt.log_metric` reports, `sigopt.log_failure()` and a non-zero exit
are failed observations with their reasons, exactly one observation per suggestion."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import anyio
import pytest
import yaml

from orchestrator.config import load_config
from orchestrator.runner import service_client
from tests.orchestrator.conftest import assert_exactly_budget

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUDGET = 12

#: Unchanged `sigopt optimize` style: run ids are consecutive, so a quarter of the runs
#: log a failure, a quarter exit with status 3, and one in four also prints a JSON value
#: that its logged metric outranks.
SCRIPT = textwrap.dedent(
    """\
    import json, sys
    import sigopt
    x = sigopt.params.x
    kind = sigopt.params.kind
    n = int(sigopt.get_run_id())
    sigopt.log_metadata("seen_x", x)
    if n % 4 == 0:
        sigopt.log_failure()
    elif n % 4 == 1:
        print("giving up", file=sys.stderr)
        sys.exit(3)
    else:
        sigopt.log_metric("score", x * 10 + (1 if kind == "a" else 0))
        if n % 4 == 2:
            print(json.dumps({"value": -1000}))
    """
)


def _config(tmp_path: Path) -> Path:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    config = {
        "experiment": {
            "name": "sigopt script",
            "type": "random",
            "parameters": [
                {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
                {"name": "kind", "type": "categorical", "categorical_values": ["a", "b"]},
            ],
            "metrics": [{"name": "score", "objective": "maximize"}],
            "observation_budget": BUDGET,
        },
        "workers": {
            "kind": "subprocess",
            "count": 4,
            "timeout": 60,
            "command": [sys.executable, str(script)],
        },
        "failures": {"max_consecutive": None, "max_fraction": None},
        "run": {"dir": str(tmp_path / "runs"), "name": "sigopt-script"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def test_sigopt_script_under_orchestrator_run(tmp_path: Path) -> None:
    """1. `orchestrator run` with 4 subprocess workers runs the script to the budget.
    2. Exactly `BUDGET` observations, one per suggestion, none open. 3. Each run carries
    its suggestion's assignments; the observation is what its run logged (the logged
    metric over the printed JSON), `run_failed` for `log_failure()`, `exit_code` for the
    exit; every run ends finished in the matching state."""
    config_path = _config(tmp_path)
    with anyio.fail_after(300):
        done = await anyio.run_process(
            [sys.executable, "-m", "orchestrator", "run", str(config_path), "--log-format", "json"],
            cwd=REPO,
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    config = load_config(config_path, check=False)
    async with service_client(config) as client:
        experiment_id = "1"
        await assert_exactly_budget(client, experiment_id, BUDGET)
        observations = {o.suggestion: o for o in await client.observations(experiment_id)}
        runs = await client.runs.of_experiment(experiment_id)
    by_suggestion = {r.suggestion: r for r in runs}
    assert set(by_suggestion) == set(observations)
    reasons = {"run_failed": 0, "exit_code": 0}
    for suggestion, observation in observations.items():
        run = by_suggestion[suggestion]
        assert run.assignments == observation.assignments
        assert (run.metadata or {})["seen_x"] == observation.assignments["x"]
        n = int(run.id)
        if n % 4 in (0, 1):
            assert observation.failed and run.state == "failed"
            reason = (observation.metadata or {}).get("failure_reason")
            assert reason == ("run_failed" if n % 4 == 0 else "exit_code")
            reasons[str(reason)] += 1
        else:
            assert not observation.failed and run.state == "completed"
            assert observation.values[0].value == run.values["score"].value
            assert observation.values[0].value is not None and observation.values[0].value > -1000
        assert run.finished and run.observation is None  # reported, not made by the run
    assert reasons["run_failed"] >= 2 and reasons["exit_code"] >= 2
