"""`orchestrator run` with `experiment.conditionals` and `experiment.linear_constraints`
(issue 15, items 2 and 3): the definition reaches the service as written, a subprocess
command's `{depth|none}` renders the default where the suggestion leaves `depth` out,
every evaluation is feasible, and a `{depth}` without default fails the evaluations that
have no depth, saying so."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
from sigopt import Connection

from orchestrator.config import parse_config
from orchestrator.runner import run_job

#: Writes its argv and assignments beside the result file; the loss needs no depth.
OBJECTIVE = """
    import json, os, sys
    from pathlib import Path
    a = json.loads(os.environ["SIGOPT_ASSIGNMENTS"])
    folder = Path(os.environ["SIGOPT_RESULT_FILE"]).parent
    (folder / "seen.json").write_text(json.dumps({"argv": sys.argv[1:], "assignments": a}))
    print(json.dumps({"loss": (a["x"] - 0.7) ** 2 + a["y"] + a.get("depth", 0) / 10}))
"""


def _config(tmp_path: Path, service_url: str, depth_arg: str, name: str) -> Any:
    objective = tmp_path / "objective.py"
    objective.write_text(textwrap.dedent(OBJECTIVE))
    return parse_config(
        {
            "service": {"url": service_url},
            "experiment": {
                "name": f"conditional {name}",
                "conditionals": [{"name": "arch", "values": ["mlp", "tree"]}],
                "parameters": [
                    {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
                    {"name": "y", "type": "double", "bounds": {"min": 0, "max": 1}},
                    {
                        "name": "depth",
                        "type": "int",
                        "bounds": {"min": 1, "max": 9},
                        "conditions": {"arch": ["tree"]},
                    },
                ],
                "linear_constraints": [
                    {
                        "type": "less_than",
                        "threshold": 0.9,
                        "terms": [{"name": "x", "weight": 1}, {"name": "y", "weight": 1}],
                    }
                ],
                "metrics": [{"name": "loss", "objective": "minimize"}],
                "observation_budget": 12,
            },
            "workers": {
                "kind": "subprocess",
                "count": 3,
                "timeout": 60,
                "command": [sys.executable, str(objective), depth_arg, "--x={x}", "--arch={arch}"],
            },
            "failures": {"max_consecutive": None, "max_fraction": None},
            "run": {"dir": str(tmp_path / "runs"), "name": name},
        },
        source=tmp_path / f"{name}.yaml",
    )


async def _run(config: Any) -> Any:
    with anyio.fail_after(120):
        return await run_job(config)


def _seen(tmp_path: Path, name: str) -> list[dict[str, Any]]:
    folder = tmp_path / "runs" / name / "evaluations"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*/seen.json"))]


def test_default_renders_where_inactive(tmp_path: Path, threaded_service_url: str) -> None:
    """1. Run 12 evaluations with `--depth={depth|none}`. 2. Every evaluation of an
    `mlp` suggestion got `--depth=none`, every `tree` one its depth. 3. The service's
    experiment has the conditionals and constraints as sent; every observation is
    feasible and holds exactly the active parameters."""
    config = _config(tmp_path, threaded_service_url, "--depth={depth|none}", "defaults")
    result = anyio.run(_run, config)
    assert result.summary.stats.completed == 12
    seen = _seen(tmp_path, "defaults")
    assert len(seen) == 12
    for item in seen:
        a = item["assignments"]
        expected = f"--depth={a['depth']}" if a["arch"] == "tree" else "--depth=none"
        assert item["argv"][0] == expected
        # A conditional's value is a placeholder as a parameter's is.
        assert item["argv"][2] == f"--arch={a['arch']}"
        assert ("depth" in a) == (a["arch"] == "tree")
    conn = Connection(client_token="t", api_url=threaded_service_url)
    [experiment] = conn.experiments().fetch().iterate_pages()
    assert [c.to_json()["values"] for c in experiment.conditionals] == [["mlp", "tree"]]
    assert experiment.linear_constraints[0].threshold == 0.9
    for o in conn.experiments(experiment.id).observations().fetch().iterate_pages():
        a = o.assignments.to_json()
        assert a["x"] + a["y"] <= 0.9
        assert set(a) == (
            {"arch", "x", "y", "depth"} if a["arch"] == "tree" else {"arch", "x", "y"}
        )


def test_no_default_fails_the_inactive(tmp_path: Path, threaded_service_url: str) -> None:
    """`{depth}` alone: the `mlp` evaluations fail as `inactive_parameter` naming it
    (their observations say why); the `tree` ones run."""
    config = _config(tmp_path, threaded_service_url, "--depth={depth}", "nodefault")
    result = anyio.run(_run, config)
    stats = result.summary.stats
    assert stats.completed + stats.failed == 12 and stats.failed > 0
    conn = Connection(client_token="t", api_url=threaded_service_url)
    [experiment] = conn.experiments().fetch().iterate_pages()
    for o in conn.experiments(experiment.id).observations().fetch().iterate_pages():
        if o.assignments["arch"] == "mlp":
            assert o.failed
            assert o.metadata["failure_reason"] == "inactive_parameter"
        else:
            assert not o.failed
    assert all(item["assignments"]["arch"] == "tree" for item in _seen(tmp_path, "nodefault"))
