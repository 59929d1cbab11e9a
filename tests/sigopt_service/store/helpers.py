"""What the store tests share: records to create and the stores the contract runs on."""

from __future__ import annotations

from pathlib import Path

from sigopt_service.models import (
    Bounds,
    Metric,
    MetricEvaluation,
    Objective,
    Parameter,
    ParameterType,
)
from sigopt_service.store import (
    BaseStore,
    CachingStore,
    InMemoryStore,
    NewExperiment,
    NewObservation,
    SqliteStore,
)
from sigopt_service.store.postgres import PostgresStore

#: Every store the contract suite runs on, as Optuna's STORAGE_MODES.
STORE_MODES = [
    "memory",
    "sqlite",
    "postgres",
    "caching-memory",
    "caching-sqlite",
    "caching-postgres",
]


def make_store(mode: str, tmp_path: Path, postgres_url: str | None = None) -> BaseStore:
    """A fresh store of `mode` (one of STORE_MODES); SQLite on a real file in `tmp_path`,
    PostgreSQL on a fresh database of the test's throwaway server (`postgres_url`)."""
    inner_mode = mode.removeprefix("caching-")
    inner: BaseStore
    if inner_mode == "memory":
        inner = InMemoryStore()
    elif inner_mode == "postgres":
        assert postgres_url is not None, "a postgres store needs the postgres_url fixture"
        inner = PostgresStore(postgres_url)
    else:
        inner = SqliteStore(tmp_path / "store.db")
    return CachingStore(inner) if mode.startswith("caching-") else inner


def new_experiment(name: str = "exp", *, metrics: list[Metric] | None = None) -> NewExperiment:
    return NewExperiment(
        name=name,
        parameters=[
            Parameter(name="x", type=ParameterType.DOUBLE, bounds=Bounds(min=0.0, max=1.0))
        ],
        metrics=metrics or [Metric(name="y", objective=Objective.MAXIMIZE)],
        metadata={"owner": "tests"},
    )


def observed(
    suggestion: int | None = None, value: float = 1.0, *, failed: bool = False
) -> NewObservation:
    return NewObservation(
        suggestion=suggestion,
        assignments=None if suggestion is not None else {"x": 0.25},
        values=[] if failed else [MetricEvaluation(name="y", value=value)],
        failed=failed,
    )
