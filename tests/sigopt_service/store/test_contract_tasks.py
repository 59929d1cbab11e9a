"""The store contract for multitask (issue 15 item 5), on every store: an experiment's
tasks, and the task of suggestions, queued suggestions and observations (an
observation's copied from its suggestion, also when it moves onto one); and a SQLite
file of the previous schema version opening with its rows as they were."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sigopt_service.models import MetricEvaluation, Task
from sigopt_service.store import BaseStore, NewObservation, SqliteStore
from sigopt_service.store.sqlite._schema import MIGRATIONS, SCHEMA_VERSION
from tests.sigopt_service.store.helpers import new_experiment, observed

CHEAP = Task(name="cheap", cost=0.1)
FULL = Task(name="full", cost=1.0)
#: The schema version that added the task columns.
TASKS_VERSION = next(
    i + 1 for i, m in enumerate(MIGRATIONS) if "ALTER TABLE suggestions ADD COLUMN task TEXT" in m
)


def multitask_experiment(store: BaseStore) -> int:
    new = new_experiment().model_copy(update={"tasks": [FULL, CHEAP], "observation_budget": 9})
    return int(store.create_experiment(new).id)


class TestTaskContract:
    def test_tasks_and_each_records_task_are_kept(self, store: BaseStore) -> None:
        eid = multitask_experiment(store)
        assert store.get_experiment(eid).tasks == [FULL, CHEAP]
        s = store.create_suggestion(eid, {"x": 0.5}, task=CHEAP)
        assert s.task == CHEAP
        assert store.get_suggestion(eid, int(s.id)).task == CHEAP
        assert [o.task for o in store.open_suggestions(eid)] == [CHEAP]
        (o,) = store.create_observations(eid, [observed(suggestion=int(s.id))])
        assert o.task == CHEAP  # the suggestion's
        (own,) = store.create_observations(
            eid,
            [
                NewObservation(
                    assignments={"x": 0.1},
                    values=[MetricEvaluation(name="y", value=2.0)],
                    task=FULL,
                )
            ],
        )
        assert own.task == FULL
        assert [o.task for o in store.all_observations(eid)] == [CHEAP, FULL]
        assert store.get_observation(eid, int(own.id)).task == FULL

    def test_queued_entries_keep_their_task_into_the_suggestion(self, store: BaseStore) -> None:
        eid = multitask_experiment(store)
        queued = store.create_queued_suggestion(eid, {"x": 0.3}, task=FULL)
        assert queued.task == FULL
        assert store.get_queued_suggestion(eid, int(queued.id)).task == FULL
        served = store.serve_queued_suggestion(eid, int(queued.id))
        assert served.task == FULL
        assert store.get_suggestion(eid, int(served.id)).task == FULL

    def test_updates_move_tasks(self, store: BaseStore) -> None:
        eid = multitask_experiment(store)
        s = store.create_suggestion(eid, {"x": 0.5}, task=CHEAP)
        (o,) = store.create_observations(
            eid,
            [
                NewObservation(
                    assignments={"x": 0.1},
                    values=[MetricEvaluation(name="y", value=2.0)],
                    task=FULL,
                )
            ],
        )
        moved = store.update_observation(eid, int(o.id), {"suggestion": int(s.id)})
        assert moved.task == CHEAP  # onto a suggestion: its task
        off = store.update_observation(eid, int(o.id), {"assignments": {"x": 0.2}, "task": FULL})
        assert (off.suggestion, off.task) == (None, FULL)
        retasked = store.update_observation(eid, int(o.id), {"task": CHEAP})
        assert store.get_observation(eid, int(o.id)).task == retasked.task == CHEAP

    def test_no_tasks_is_none_everywhere(self, store: BaseStore, eid: int) -> None:
        assert store.get_experiment(eid).tasks is None
        s = store.create_suggestion(eid, {"x": 0.5})
        (o,) = store.create_observations(eid, [observed(suggestion=int(s.id))])
        assert (s.task, o.task) == (None, None)


def test_file_of_the_previous_version_opens_with_null_tasks(tmp_path: Path) -> None:
    """A file at the version before the task columns, with an experiment, an observed
    suggestion and a queued entry, opens at the current version: all of it reads as
    before, without tasks, and a multitask experiment then stores its tasks."""
    path = tmp_path / "old.db"
    raw = sqlite3.connect(path)
    for migration in MIGRATIONS[: TASKS_VERSION - 1]:
        for statement in migration:
            raw.execute(statement)
    raw.execute(
        "INSERT INTO experiments (id, name, type, parameters, metrics, observation_budget, "
        "parallel_bandwidth, num_solutions, conditionals, linear_constraints, metadata, "
        "project, state, created, updated, development) VALUES (1, 'old', 'offline', "
        "'[]', '[]', 10, 1, 1, '[]', '[]', NULL, NULL, 'active', 5, 6, 0)"
    )
    raw.execute(
        "INSERT INTO suggestions (id, experiment_id, assignments, created) "
        "VALUES (1, 1, '{\"x\": 0.1}', 5)"
    )
    raw.execute(
        'INSERT INTO observations (id, experiment_id, suggestion_id, assignments, "values", '
        "failed, created) VALUES (1, 1, 1, '{\"x\": 0.1}', '[]', 1, 6)"
    )
    raw.execute(
        "INSERT INTO queued_suggestions (id, experiment_id, assignments, created) "
        "VALUES (1, 1, '{\"x\": 0.2}', 7)"
    )
    raw.execute(f"PRAGMA user_version = {TASKS_VERSION - 1}")
    raw.commit()
    raw.close()
    store = SqliteStore(path)
    try:
        assert store.schema_version() == SCHEMA_VERSION >= TASKS_VERSION
        assert store.get_experiment(1).tasks is None
        assert store.get_suggestion(1, 1).task is None
        assert [(o.id, o.task, o.failed) for o in store.all_observations(1)] == [("1", None, True)]
        assert store.get_queued_suggestion(1, 1).task is None
        eid = multitask_experiment(store)
    finally:
        store.close()
    reopened = SqliteStore(path)
    try:
        assert reopened.get_experiment(eid).tasks == [FULL, CHEAP]
    finally:
        reopened.close()
