"""Issue 18, through the official client: `stopping_criteria` reports `possible_stagnation`
as sigopt-server's `handlers/experiments/stopping_criteria.py` does (scenarios of its
`test/integration/v1/features/stopping_test.py`), next to `observation_budget_reached`."""

from __future__ import annotations

from typing import Any

import pytest
from sigopt import Connection

from sigopt_service.usecases._stopping import LOOKBACK_FACTOR, NUM_TOP_RESULTS_TO_CHECK

# The official client (or the coordinator) end to end, on SQLite and on PostgreSQL.
pytestmark = pytest.mark.postgres_too

#: One parameter: stagnation is judged over the last 5 observations.
LOOKBACK = LOOKBACK_FACTOR * 1
CHECK_LENGTH = LOOKBACK + NUM_TOP_RESULTS_TO_CHECK


def _experiment(conn: Connection, **extra: Any) -> Any:
    body: dict[str, Any] = dict(
        name="stopping",
        parameters=[dict(name="x", type="double", bounds=dict(min=0.0, max=10.0))],
        metrics=[dict(name="m", objective="maximize")],
        observation_budget=499,
    )
    return conn.experiments().create(**{**body, **extra})


def _observe(conn: Connection, e: Any, value: float | None, x: float = 1.0) -> Any:
    """Report `value` (None: a failure), then fetch the stopping criteria."""
    observations = conn.experiments(e.id).observations()
    if value is None:
        observations.create(assignments={"x": x}, failed=True)
    else:
        observations.create(assignments={"x": x}, values=[dict(name="m", value=value)])
    return conn.experiments(e.id).stopping_criteria().fetch()


class TestPossibleStagnation:
    """No better value over the last 5 x dimension observations than the 5th best before
    them is possible stagnation; a better one ends it."""

    def test_stagnation_comes_and_goes_with_improvement(self, conn: Connection) -> None:
        e = _experiment(conn)
        assert not conn.experiments(e.id).stopping_criteria().fetch().should_stop
        for value in range(NUM_TOP_RESULTS_TO_CHECK):
            assert not _observe(conn, e, value).should_stop
        for _ in range(CHECK_LENGTH - NUM_TOP_RESULTS_TO_CHECK - 1):
            assert not _observe(conn, e, -1).should_stop
        stopping = _observe(conn, e, -1)
        assert stopping.should_stop and stopping.reasons == ["possible_stagnation"]
        assert not _observe(conn, e, NUM_TOP_RESULTS_TO_CHECK).should_stop
        conn.experiments(e.id).observations().delete()
        assert not conn.experiments(e.id).stopping_criteria().fetch().should_stop

    def test_minimized_metric_stagnates_when_values_grow(self, conn: Connection) -> None:
        e = _experiment(conn, metrics=[dict(name="m", objective="minimize")])
        for i in range(CHECK_LENGTH):
            assert not _observe(conn, e, -i).should_stop
        for i in range(LOOKBACK):
            stopping = _observe(conn, e, i)
        assert stopping.reasons == ["possible_stagnation"]

    def test_failures_count_as_no_improvement(self, conn: Connection) -> None:
        e = _experiment(conn)
        for value in range(CHECK_LENGTH - LOOKBACK):
            _observe(conn, e, value)
        for _ in range(LOOKBACK):
            stopping = _observe(conn, e, None)
        assert stopping.reasons == ["possible_stagnation"]

    def test_both_reasons_in_sigopts_order(self, conn: Connection) -> None:
        e = _experiment(conn, observation_budget=5)
        for k in range(5):
            assert not _observe(conn, e, k).should_stop
        assert _observe(conn, e, 0).reasons == ["observation_budget_reached"]
        for _ in range(LOOKBACK - 1):
            stopping = _observe(conn, e, 0)
        assert stopping.reasons == ["possible_stagnation", "observation_budget_reached"]


class TestParetoStagnation:
    """With two optimized metrics, stagnation is an unchanged Pareto front over the
    lookback, judged once the budget is reached; failures do not change the front."""

    def test_unchanged_front_after_the_budget(self, conn: Connection) -> None:
        e = (
            conn.clients("1")
            .experiments()
            .create(
                name="two metrics",
                parameters=[dict(name="x", type="double", bounds=dict(min=0.0, max=10.0))],
                metrics=[dict(name="f1"), dict(name="f2")],
                observation_budget=20,
            )
        )

        def batch(xs: list[float | None]) -> Any:
            conn.experiments(e.id).observations().create_batch(
                observations=[
                    {"assignments": {"x": 2.3456}, "failed": True}
                    if x is None
                    else {
                        "assignments": {"x": x},
                        "values": [
                            {"name": "f1", "value": 1 - (x - 5) ** 2},
                            {"name": "f2", "value": 1 - (x - 9) ** 2},
                        ],
                    }
                    for x in xs
                ]
            )
            return conn.experiments(e.id).stopping_criteria().fetch()

        stopping = batch([10 * (20 - k) / 20 for k in range(21)])
        # The last five (x from 2 down to 0) are off the front already: SigOpt's test, too,
        # asserts only the budget here.
        assert stopping.should_stop and "observation_budget_reached" in stopping.reasons
        stopping = batch([1.23456] * 50)
        assert stopping.reasons == ["possible_stagnation", "observation_budget_reached"]
        stopping = batch([None] * 50)
        assert stopping.reasons == ["possible_stagnation", "observation_budget_reached"]

    def test_no_stagnation_before_the_budget(self, conn: Connection) -> None:
        e = _experiment(conn, metrics=[dict(name="f1"), dict(name="f2")], observation_budget=100)
        for _ in range(CHECK_LENGTH + 5):
            conn.experiments(e.id).observations().create(
                assignments={"x": 1.0},
                values=[dict(name="f1", value=0.0), dict(name="f2", value=0.0)],
            )
        assert not conn.experiments(e.id).stopping_criteria().fetch().should_stop
