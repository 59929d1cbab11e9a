"""`benchmarks.postgres` run tiny: every store, worker count and level it is given comes
back measured, each ratio is the ratio of the figures beside it, and the rows are labelled
by the settings the server really ran with."""

from __future__ import annotations

import pytest

from benchmarks import postgres
from benchmarks.__main__ import NAMES


@pytest.mark.timeout(180)
def test_tiny_run_measures_every_row_and_renders() -> None:
    result = postgres.run(
        cycle_counts={"random": 2, "offline": 2},
        worker_counts=(2,),
        evaluations=6,
        repeats=1,
        optuna_trials=4,
        shared_cycles={4: 2},
        rounds=1,
    )
    settings = result["postgres_settings"]
    assert settings["postgres"]["synchronous_commit"] == "on"
    assert settings["postgres"]["fsync"] == "on"
    assert settings["postgres_async"]["synchronous_commit"] == "off"

    for engine_type in ("random", "offline"):
        by_store = result["cycle"][engine_type]
        assert set(by_store) == set(postgres.STORES)
        assert all(r["count"] == 2 and r["p50_ms"] > 0 for r in by_store.values())
        assert by_store["sqlite"]["p50_vs_sqlite"] == 1.0
        pg = by_store["postgres"]
        assert pg["p50_vs_sqlite"] == pytest.approx(pg["p50_ms"] / by_store["sqlite"]["p50_ms"])

    row = result["noop"]["2"]
    assert all(row[f"{store}_per_s"] > 0 for store in postgres.STORES)
    assert row["optuna_rdb_postgres_per_s"] > 0
    assert row["postgres_vs_optuna_rdb"] == pytest.approx(
        row["postgres_per_s"] / row["optuna_rdb_postgres_per_s"]
    )

    level = result["shared"]["4"]
    assert level["one_process"]["count"] == level["two_processes"]["count"] == 2
    assert level["rebuild_ms"] > 0
    # Filled to 4, then 1 + 2 cycles through one process and 2 + 2 through both.
    assert level["observations_after"] == 4 + 3 + 4

    text = postgres.table(result)
    assert all(label in text for label in postgres.LABELS.values())
    assert "Optuna RDBStorage PG trials/s" in text and "load average" in text.lower()


def test_registered_in_the_suite() -> None:
    assert "postgres" in NAMES
