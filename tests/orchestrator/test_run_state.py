"""The run folder's state: what a changed definition asks for (update, or a new experiment)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from orchestrator.run_state import (
    RunState,
    fixed_change,
    legacy_definition,
    legacy_hash,
    load_state,
    save_state,
    updates,
)

DEFINITION: dict[str, Any] = {
    "name": "e",
    "type": "offline",
    "parameters": [
        {"name": "lr", "type": "double", "bounds": {"min": 1e-5, "max": 0.1}},
        {"name": "opt", "type": "categorical", "categorical_values": ["adam", "sgd"]},
    ],
    "metrics": [{"name": "accuracy", "objective": "maximize"}],
    "observation_budget": 20,
    "parallel_bandwidth": 4,
    "metadata": {"orchestrator_run_id": "r1"},
}


def changed(**edits: Any) -> dict[str, Any]:
    definition = copy.deepcopy(DEFINITION)
    definition.update(edits)
    return definition


class TestFixedChange:
    """The first change outside name, budget, bandwidth and metadata, named by its key."""

    def test_updatable_keys_are_no_fixed_change(self) -> None:
        after = changed(name="f", observation_budget=30, parallel_bandwidth=2, metadata={})
        assert fixed_change(DEFINITION, after) is None

    def test_parameter_order_and_int_for_float_are_no_change(self) -> None:
        params = copy.deepcopy(DEFINITION["parameters"])[::-1]
        params[1]["bounds"]["max"] = 0.1  # same number
        params[1]["bounds"]["min"] = 0.00001
        assert fixed_change(DEFINITION, changed(parameters=params)) is None

    def test_categorical_values_changed(self) -> None:
        params = copy.deepcopy(DEFINITION["parameters"])
        params[1]["categorical_values"] = ["adam", "sgd", "rmsprop"]
        found = fixed_change(DEFINITION, changed(parameters=params))
        assert found is not None
        assert found.key == "experiment.parameters[1].categorical_values"
        assert found.detail == (
            "changed from ['adam', 'sgd'] to ['adam', 'sgd', 'rmsprop'] (parameter opt)"
        )
        assert found.why() == "the experiment's search space is fixed"

    def test_parameter_removed(self) -> None:
        found = fixed_change(DEFINITION, changed(parameters=DEFINITION["parameters"][:1]))
        assert found is not None
        assert (found.key, found.detail) == ("experiment.parameters", "parameter opt removed")

    def test_parameter_renamed_is_both(self) -> None:
        """A rename is a removal and an addition: the message names both."""
        params = [dict(p) for p in DEFINITION["parameters"]]
        params[1]["name"] = "optimizer"
        found = fixed_change(DEFINITION, changed(parameters=params))
        assert found is not None
        assert (found.key, found.detail) == (
            "experiment.parameters[1]",
            "parameter opt removed, optimizer added",
        )

    def test_conditionals_added(self) -> None:
        conditionals = [{"name": "deep", "values": ["yes", "no"]}]
        found = fixed_change(DEFINITION, changed(conditionals=conditionals))
        assert found is not None
        assert found.key == "experiment.conditionals"
        assert found.detail.startswith("added: ")

    def test_metric_threshold_added(self) -> None:
        metrics = [{"name": "accuracy", "objective": "maximize", "threshold": 0.5}]
        found = fixed_change(DEFINITION, changed(metrics=metrics))
        assert found is not None
        assert found.key == "experiment.metrics[0].threshold"
        assert found.detail == "added: 0.5 (metric accuracy)"
        assert found.why() == "the experiment's metrics are fixed"

    def test_other_keys_are_fixed(self) -> None:
        found = fixed_change(DEFINITION, changed(num_solutions=2))
        assert found is not None
        assert found.key == "experiment.num_solutions"
        assert found.why().startswith("an experiment can change only name, observation_budget")


class TestUpdates:
    def test_only_changed_updatable_keys(self) -> None:
        after = changed(observation_budget=30, parameters=[])
        assert updates(DEFINITION, after) == {"observation_budget": 30}
        assert updates(DEFINITION, copy.deepcopy(DEFINITION)) == {}


class TestOldStateFiles:
    """A state file with only `definition_hash` is still read and compared."""

    def old_state(self, tmp_path: Path) -> RunState:
        old = {"run_id": "r1", "experiment_id": "1", "definition_hash": legacy_hash(DEFINITION)}
        (tmp_path / "state.json").write_text(json.dumps(old))
        state = load_state(tmp_path)
        assert state is not None
        assert state.definition is None
        return state

    def test_budget_raised_compares_with_the_service(self, tmp_path: Path) -> None:
        """The hash matches once the service's name and budget are put back."""
        state = self.old_state(tmp_path)
        service = {"name": "e", "observation_budget": 20, "parallel_bandwidth": 4, "metadata": {}}
        before = legacy_definition(state, changed(observation_budget=30), service)
        assert before is not None
        assert updates(before, changed(observation_budget=30)) == {
            "observation_budget": 30,
            "metadata": {"orchestrator_run_id": "r1"},
        }

    def test_search_space_changed_is_none(self, tmp_path: Path) -> None:
        state = self.old_state(tmp_path)
        service = {"name": "e", "observation_budget": 20}
        assert legacy_definition(state, changed(type="random"), service) is None

    def test_saved_state_keeps_the_definition_and_the_hash(self, tmp_path: Path) -> None:
        state = RunState(run_id="r1")
        state.remember("1", DEFINITION)
        save_state(tmp_path, state)
        loaded = load_state(tmp_path)
        assert loaded == state
        assert loaded.definition == DEFINITION
        assert loaded.definition_hash == legacy_hash(DEFINITION)
