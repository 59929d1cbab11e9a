"""SqliteStore's AI-module schema (issue 14): a database file written before it (the
previous versions) opens at the current version, its experiments classic ones, and takes
projects, AI experiments, runs and checkpoints, which survive reopening."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sigopt_service.models import MetricEvaluation
from sigopt_service.run_models import RunState
from sigopt_service.store import ExperimentListing, NewProject, NewTrainingRun, SqliteStore
from sigopt_service.store.sqlite._schema import MIGRATIONS, SCHEMA_VERSION
from tests.sigopt_service.store.helpers import new_experiment, observed

#: The schema version that added projects, training runs and checkpoints.
RUNS_VERSION = next(
    i + 1 for i, m in enumerate(MIGRATIONS) if any("CREATE TABLE training_runs" in s for s in m)
)


def _old_file(path: Path, version: int) -> None:
    """A database at `version`, written by the migrations of that time, with one classic
    experiment (the columns every version since v3 has) and one open suggestion."""
    raw = sqlite3.connect(path)
    for migration in MIGRATIONS[:version]:
        for statement in migration:
            raw.execute(statement)
    raw.execute(
        "INSERT INTO experiments (id, name, type, parameters, metrics, observation_budget, "
        "parallel_bandwidth, num_solutions, conditionals, linear_constraints, metadata, "
        "project, state, created, updated, development) VALUES (1, 'old', 'offline', "
        "'[]', '[]', 10, 1, 1, '[]', '[]', NULL, 'proj', 'active', 5, 6, 0)"
    )
    raw.execute("INSERT INTO suggestions VALUES (1, 1, '{\"x\": 0.1}', NULL, 5, 0, 0)")
    raw.execute(f"PRAGMA user_version = {version}")
    raw.commit()
    raw.close()


class TestRunsMigration:
    """The migration that adds the AI module keeps every older row as it was."""

    @pytest.mark.parametrize("version", sorted({3, RUNS_VERSION - 1}))
    def test_older_file_opens_and_takes_runs(self, tmp_path: Path, version: int) -> None:
        """1. A file at `version` (before the runs) with a classic experiment opens at the
        current version. 2. Its experiment is classic and still in its project's listing.
        3. It takes a project, a run of its open suggestion that becomes its observation,
        and a checkpoint. 4. All of it is there after reopening."""
        assert RUNS_VERSION <= SCHEMA_VERSION and version < RUNS_VERSION
        path = tmp_path / f"v{version}.db"
        _old_file(path, version)
        store = SqliteStore(path)
        try:
            assert store.schema_version() == SCHEMA_VERSION
            old = store.get_experiment(1)
            assert not old.runs_only and (old.name, old.project) == ("old", "proj")
            listed = store.list_experiments(listing=ExperimentListing(project="proj"))
            assert [e.id for e in listed.items] == ["1"]
            store.create_project(NewProject(id="proj", name="Project"))
            new = NewTrainingRun(project="proj", experiment=1, suggestion=1, document={"name": "r"})
            run = store.create_training_run(new)[0]
            done, made = store.update_training_run(
                int(run.id), {"state": RunState.COMPLETED}, observed(suggestion=1)
            )
            assert made is not None and done.observation == made.id
            store.create_checkpoint(int(run.id), [MetricEvaluation(name="y", value=1.0)], None)
            ai = store.create_experiment(new_experiment().model_copy(update={"runs_only": True}))
        finally:
            store.close()
        reopened = SqliteStore(path)
        try:
            kept = reopened.get_training_run(int(run.id))
            assert kept.observation == made.id and kept.checkpoint_count == 1
            assert kept.state is RunState.COMPLETED and kept.name == "r"
            assert reopened.get_project("proj").name == "Project"
            assert reopened.get_experiment(int(ai.id)).runs_only
            assert reopened.training_run_counts(1).finished == 1
        finally:
            reopened.close()
