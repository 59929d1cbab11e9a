"""`experiment.queued`: assignments a new experiment evaluates first, checked when the
config loads, queued by `orchestrator run` on the experiment it creates (only then)."""

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

QUEUED = """\
  queued:
    - {assignments: {x1: 1.5, x2: 2.5}}
    - assignments: {x1: -5, x2: 15}
"""
#: VALID with `queued` under `experiment` (the experiment section comes first).
WITH_QUEUED = VALID.replace("  observation_budget: 20\n", "  observation_budget: 20\n" + QUEUED)


def _load(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path, check=False)


class TestQueuedConfig:
    """Entries are SigOpt's `{assignments: {...}}`, checked against the parameters by the
    service's own rules; they never reach the experiment's create body."""

    def test_entries_in_order_and_not_in_the_definition(self, tmp_path: Path) -> None:
        config = _load(tmp_path, WITH_QUEUED)
        assert config.experiment.queued_assignments() == [
            {"x1": 1.5, "x2": 2.5},
            {"x1": -5, "x2": 15},
        ]
        assert "queued" not in config.experiment.definition(4, "run")

    @pytest.mark.parametrize(
        ("queued", "key", "fragment"),
        [
            ("    - {x1: 1, x2: 2}\n", "experiment.queued[0]", "each entry is `{assignments"),
            (
                "    - {assignments: {x1: 1, x2: 2}}\n    - {assignments: {x1: 1}}\n",
                "experiment.queued[1].assignments.x2",
                "Missing assignment",
            ),
            (
                "    - {assignments: {x1: 1, x2: 2, lr: 3}}\n",
                "experiment.queued[0].assignments.lr",
                "Unknown parameter",
            ),
            (
                "    - {assignments: {x1: one, x2: 2}}\n",
                "experiment.queued[0].assignments.x1",
                "must be a number",
            ),
            (
                "    - {assignments: {x1: 1, x2: 2}, task: cheap}\n",
                "experiment.queued[0].task",
                "unknown key",
            ),
            ("    {x1: 1}\n", "experiment.queued", "valid list"),
        ],
    )
    def test_bad_entries_name_their_key(
        self, tmp_path: Path, queued: str, key: str, fragment: str
    ) -> None:
        text = VALID.replace(
            "  observation_budget: 20\n", "  observation_budget: 20\n  queued:\n" + queued
        )
        with pytest.raises(ConfigError) as caught:
            _load(tmp_path, text)
        assert (caught.value.key, fragment in caught.value.message) == (key, True), caught.value

    def test_not_with_an_existing_experiment(self) -> None:
        raw = {
            "experiment": {"id": "7", "queued": [{"assignments": {"x": 1}}]},
            "workers": {"kind": "async", "count": 1, "function": "m:f"},
        }
        with pytest.raises(ConfigError) as caught:
            parse_config(raw)
        assert caught.value.key == "experiment.id"
        assert "also given: queued" in caught.value.message


def _run_config(tmp_path: Path, service_url: str, budget: int, queued: list[Any]) -> Any:
    return parse_config(
        {
            "service": {"url": service_url},
            "experiment": {
                "name": "queued first",
                "type": "random",
                "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
                "observation_budget": budget,
                "queued": [{"assignments": a} for a in queued],
            },
            "workers": {
                "kind": "async",
                "count": 1,
                "function": "tests.orchestrator.objectives:sleepy",
            },
            "run": {"dir": str(tmp_path / "runs"), "name": "q"},
        },
        source=tmp_path / "q.yaml",
    )


class TestRunQueues:
    """`orchestrator run` queues the entries on the experiment it creates, so they are
    the first evaluations; a resumed run queues nothing again."""

    def test_first_evaluations_then_never_again(
        self, tmp_path: Path, threaded_service_url: str
    ) -> None:
        """1. A first run of budget 3 evaluates both queued entries first. 2. A second run
        of the folder, budget 5 and another `queued`, continues the same experiment
        and queues nothing. 3. Each queued entry was evaluated once."""
        first = _run_config(tmp_path, threaded_service_url, 3, [{"x": 0.25}, {"x": 0.75}])
        result = anyio.run(run_job, first)
        assert result.summary.stats.completed == 3
        conn = Connection(client_token="t", api_url=threaded_service_url)
        [experiment] = conn.experiments().fetch().iterate_pages()
        observed = conn.experiments(experiment.id).observations().fetch(ascending=True)
        assert [o.assignments["x"] for o in observed.iterate_pages()][:2] == [0.25, 0.75]
        again = _run_config(tmp_path, threaded_service_url, 5, [{"x": 0.5}])
        result = anyio.run(run_job, again)
        assert result.summary.stats.completed == 2
        assert conn.experiments().fetch().count == 1
        xs = [
            o.assignments["x"]
            for o in conn.experiments(experiment.id).observations().fetch().iterate_pages()
        ]
        assert (len(xs), xs.count(0.25), xs.count(0.75), xs.count(0.5)) == (5, 1, 1, 0)
        assert conn.experiments(experiment.id).queued_suggestions().fetch().count == 0
