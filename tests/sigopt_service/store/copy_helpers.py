"""What the `db copy` tests share: a store filled with one of every kind of record
(`populate`), and everything a store holds, read back through its own methods
(`everything`) or as raw rows (`raw_rows`), to compare a copy with its source."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from sigopt_service.models import MetricEvaluation, Task
from sigopt_service.run_models import RunState
from sigopt_service.store import (
    BaseStore,
    NewExperiment,
    NewObservation,
    NewProject,
    NewToken,
    NewTrainingRun,
    Page,
)
from sigopt_service.store.postgres import TABLES
from sigopt_service.validation import validate_experiment_create
from tests.sigopt_service.store.helpers import new_experiment, observed

T = TypeVar("T")

CONDITIONAL = {
    "name": "conditional",
    "metrics": [{"name": "y"}],
    "observation_budget": 30,
    "parameters": [
        {"name": "a", "type": "int", "bounds": {"min": 1, "max": 50}},
        {"name": "b", "type": "double", "bounds": {"min": -5, "max": 0}, "conditions": {"x": "5"}},
    ],
    "conditionals": [{"name": "x", "values": ["1", "5"]}],
    "metadata": {"team": "ml", "n": 3},
}
MULTITASK = {
    "name": "multitask",
    "metrics": [{"name": "y"}],
    "observation_budget": 20,
    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
    "tasks": [{"name": "cheap", "cost": 0.1}, {"name": "full", "cost": 1.0}],
}


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def populate(store: BaseStore) -> dict[str, int]:
    """One of everything: experiments of several kinds (one deleted), suggestions open,
    closed and deleted, observations failed and deleted, queued suggestions waiting,
    served and deleted, tokens (one revoked), projects, training runs with checkpoints.
    Returns the ids the tests look at."""
    cond, waiting = _conditional(store)
    multi = int(store.create_experiment(validate_experiment_create(MULTITASK)).id)
    m1 = int(store.create_suggestion(multi, {"x": 0.5}, task=Task(name="cheap", cost=0.1)).id)
    store.create_observations(multi, [observed(m1, 2.0)])
    store.create_queued_suggestion(multi, {"x": 0.9}, task=Task(name="full", cost=1.0))
    deleted = int(store.create_experiment(new_experiment("deleted one")).id)
    d1 = int(store.create_suggestion(deleted, {"x": 0.2}).id)
    store.create_observations(deleted, [observed(d1, 3.0)])
    store.update_experiment(deleted, {"state": "deleted"})
    ai, run = _runs(store)
    _tokens(store, cond)
    return {
        "conditional": cond,
        "multitask": multi,
        "deleted": deleted,
        "ai": ai,
        "waiting": waiting,
        "run": run,
    }


def _conditional(store: BaseStore) -> tuple[int, int]:
    """A conditional experiment with every state of suggestion, observation and queued
    entry; its id and its waiting queued entry's."""
    cond = int(store.create_experiment(validate_experiment_create(CONDITIONAL)).id)
    s1 = int(store.create_suggestion(cond, {"a": 3, "x": "5", "b": -1.5}, {"by": "test"}).id)
    s2 = int(store.create_suggestion(cond, {"a": 7, "x": "1"}).id)
    s3 = int(store.create_suggestion(cond, {"a": 9, "x": "1"}).id)
    store.create_suggestion(cond, {"a": 11, "x": "1"})  # stays open
    y = [MetricEvaluation(name="y", value=0.75)]
    store.create_observations(
        cond,
        [
            NewObservation(suggestion=s1, values=y),
            NewObservation(suggestion=s2, failed=True, metadata={"reason": "crashed"}),
        ],
    )
    store.delete_suggestion(cond, s3)
    [gone] = store.create_observations(
        cond, [NewObservation(assignments={"a": 1, "x": "1"}, values=y)]
    )
    store.delete_observation(cond, int(gone.id))
    waiting = int(store.create_queued_suggestion(cond, {"a": 20, "x": "1"}).id)
    served = int(store.create_queued_suggestion(cond, {"a": 21, "x": "1"}).id)
    store.serve_queued_suggestion(cond, served, {"queued": True})
    dropped = int(store.create_queued_suggestion(cond, {"a": 22, "x": "1"}).id)
    store.delete_queued_suggestion(cond, dropped)
    return cond, waiting


def _runs(store: BaseStore) -> tuple[int, int]:
    """Projects (one deleted), an AI experiment, a completed run with checkpoints and its
    observation, a deleted run; the experiment's id and the completed run's."""
    store.create_project(NewProject(id="proj-1", name="Project one", metadata={"k": "v"}))
    store.create_project(NewProject(id="proj-2", name="Gone"))
    store.update_project("proj-2", {"deleted": True})
    definition = {**new_experiment("ai").model_dump(), "runs_only": True, "project": "proj-1"}
    ai = int(store.create_experiment(NewExperiment(**definition)).id)
    a1 = int(store.create_suggestion(ai, {"x": 0.4}).id)
    run, _ = store.create_training_run(
        NewTrainingRun(
            project="proj-1",
            experiment=ai,
            suggestion=a1,
            document={"name": "run 1", "assignments": {"x": 0.4}},
        ),
        NewObservation(suggestion=a1, values=[MetricEvaluation(name="y", value=0.9)]),
    )
    run_id = int(run.id)
    store.create_checkpoint(run_id, [MetricEvaluation(name="y", value=0.5)], {"epoch": 1})
    store.create_checkpoint(run_id, [MetricEvaluation(name="y", value=0.8)], None)
    store.update_training_run(run_id, {"state": RunState.COMPLETED})
    other, _ = store.create_training_run(NewTrainingRun(project="proj-1", document={"name": "x"}))
    store.set_training_run_deleted(int(other.id), True)
    return ai, run_id


def _tokens(store: BaseStore, experiment: int) -> None:
    """An admin token that was used, an experiment's read token, a revoked one."""
    kept = store.create_token(NewToken(secret_hash=_hash("a"), name="ci", permissions="admin"))
    store.record_token_use(kept.id, 1_700_000_000)
    store.create_token(
        NewToken(
            secret_hash=_hash("b"), permissions="read", experiment=experiment, expires=2 * 10**9
        )
    )
    revoked = store.create_token(NewToken(secret_hash=_hash("c")))
    store.revoke_token(revoked.id)


def _pages(read: Callable[[int | None], Page[T]], key: Callable[[T], Any]) -> list[T]:
    out: list[T] = []
    cursor: int | None = None
    while True:
        page = read(cursor)
        out += page.items
        if not page.has_more:
            return out
        cursor = int(key(page.items[-1]))


def everything(store: BaseStore) -> dict[str, Any]:
    """Every record the store gives back through its methods, by what it is."""
    by_id = lambda item: item.id  # noqa: E731
    experiments = _pages(lambda c: store.list_experiments(state="all", cursor=c), by_id)
    out: dict[str, Any] = {"experiments": experiments}
    for e in experiments:
        eid = int(e.id)
        out[f"experiment {eid}"] = store.get_experiment(eid)
        out[f"suggestions {eid}"] = _pages(
            lambda c, eid=eid: store.list_suggestions(eid, include_deleted=True, cursor=c), by_id
        )
        out[f"observations {eid}"] = _pages(
            lambda c, eid=eid: store.list_observations(eid, include_deleted=True, cursor=c), by_id
        )
        out[f"queued {eid}"] = _pages(
            lambda c, eid=eid: store.list_queued_suggestions(eid, cursor=c), by_id
        )
        out[f"open {eid}"] = store.open_suggestions(eid)
        out[f"best {eid}"] = store.best_observation(eid)
        out[f"run counts {eid}"] = store.training_run_counts(eid)
    out["tokens"] = _pages(lambda c: store.list_tokens(cursor=c), by_id)
    out["projects"] = store.all_projects()
    out["runs"] = store.all_training_runs()
    for run in out["runs"]:
        out[f"checkpoints {run.id}"] = _pages(
            lambda c, r=int(run.id): store.list_checkpoints(r, cursor=c), by_id
        )
    return out


def raw_rows(where: Path | str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in id order, columns by name order: what no store
    method shows (revoked tokens, served queue entries) compared too."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    if isinstance(where, Path):
        with sqlite3.connect(where) as conn:
            for table in TABLES:
                columns = sorted(d[0] for d in conn.execute(f"SELECT * FROM {table}").description)
                listed = ", ".join(f'"{c}"' for c in columns)
                out[table] = conn.execute(f"SELECT {listed} FROM {table} ORDER BY id").fetchall()
        return out
    with psycopg.connect(where) as conn:
        for table in TABLES:
            description = conn.execute(f"SELECT * FROM {table} LIMIT 0").description or []
            listed = ", ".join(f'"{c}"' for c in sorted(d.name for d in description))
            out[table] = conn.execute(f"SELECT {listed} FROM {table} ORDER BY id").fetchall()
    return out


def pg_tables(url: str) -> dict[str, int] | None:
    """Rows per table of a PostgreSQL database, None if it has no schema at all."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('experiments')").fetchone() == (None,):
            return None
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
