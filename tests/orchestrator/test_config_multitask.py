"""`experiment.tasks` and `experiment.num_solutions` (issue 15 items 4 and 5): checked
when the config loads by the service's own rules, sent in the experiment's definition,
and run by `orchestrator run` to the budget in cost, each evaluation told its task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from sigopt import Connection

from orchestrator.config import load_config, parse_config
from orchestrator.errors import ConfigError
from orchestrator.runner import run_job
from tests.orchestrator.config_cases import VALID
from workers.base import Evaluation

TASKS = """\
  tasks:
    - {name: cheap, cost: 0.1}
    - {name: full, cost: 1}
"""


def _load(tmp_path: Path, extra: str) -> Any:
    path = tmp_path / "c.yaml"
    path.write_text(
        VALID.replace("  observation_budget: 20\n", "  observation_budget: 20\n" + extra)
    )
    return load_config(path, check=False)


class TestConfig:
    def test_tasks_and_num_solutions_reach_the_definition(self, tmp_path: Path) -> None:
        config = _load(tmp_path, TASKS)
        definition = config.experiment.definition(4, "run")
        assert definition["tasks"] == [{"name": "cheap", "cost": 0.1}, {"name": "full", "cost": 1}]
        solutions = _load(tmp_path, "  num_solutions: 3\n").experiment.definition(4, "run")
        assert solutions["num_solutions"] == 3

    @pytest.mark.parametrize(
        ("extra", "key", "fragment"),
        [
            (TASKS.replace("cost: 1}", "cost: 0.5}"), "experiment.tasks", "cost == 1"),
            (TASKS.replace("0.1", "0"), "experiment.tasks[0].cost", "positive"),
            ("  num_solutions: 21\n", "experiment.num_solutions", "larger than the number"),
            (
                TASKS + "  queued:\n    - {assignments: {x1: 1, x2: 2}}\n",
                "experiment.queued",
                "`tasks`",
            ),
        ],
    )
    def test_bad_ones_name_their_key(
        self, tmp_path: Path, extra: str, key: str, fragment: str
    ) -> None:
        with pytest.raises(ConfigError) as caught:
            _load(tmp_path, extra)
        assert (caught.value.key, fragment in caught.value.message) == (key, True), caught.value


#: What each evaluation of the run below was handed: suggestion id -> (task, cost).
SEEN: dict[str, tuple[str, float]] = {}


def objective(assignments: dict[str, Any], evaluation: Evaluation) -> float:
    """The async kind's objective: records its task; the cheap task is a biased value."""
    assert evaluation.task is not None
    SEEN[evaluation.id] = (evaluation.task.name, evaluation.task.cost)
    bias = 0.0 if evaluation.task.cost == 1 else 0.3
    return (float(assignments["x"]) - 0.4) ** 2 + bias


def test_run_spends_the_budget_in_cost(tmp_path: Path, threaded_service_url: str) -> None:
    """`orchestrator run` of a multitask config: it ends for its budget, the service's
    consumed cost reaching it; each evaluation got its suggestion's task; the best
    assignments are of the full-cost task."""
    SEEN.clear()
    config = parse_config(
        {
            "service": {"url": threaded_service_url},
            "experiment": {
                "name": "multitask run",
                "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
                "metrics": [{"name": "loss", "objective": "minimize"}],
                "observation_budget": 4,
                "tasks": [{"name": "cheap", "cost": 0.1}, {"name": "full", "cost": 1.0}],
            },
            "workers": {
                "kind": "async",
                "count": 2,
                "function": "tests.orchestrator.test_config_multitask:objective",
            },
            "run": {"dir": str(tmp_path / "runs"), "name": "mt"},
        },
        source=tmp_path / "mt.yaml",
    )
    anyio.run(run_job, config)
    conn = Connection(client_token="t", api_url=threaded_service_url)
    [experiment] = conn.experiments().fetch().iterate_pages()
    assert 4 <= experiment.progress.observation_budget_consumed < 5
    observations = list(conn.experiments(experiment.id).observations().fetch().iterate_pages())
    assert {o.suggestion: (o.task.name, o.task.cost) for o in observations} == SEEN
    [best] = conn.experiments(experiment.id).best_assignments().fetch().iterate_pages()
    assert best.to_json()["task"] == "full"
