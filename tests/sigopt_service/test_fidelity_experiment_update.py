"""Issue 18, experiment update through the official client, as sigopt-server's
`handlers/experiments/update.py`: `parameters` is the whole list, `metrics` the same
metrics with new thresholds, nothing invalid is stored."""

from __future__ import annotations

from typing import Any

import pytest
from sigopt import Connection

from tests.sigopt_service.api_cases import refused_body

# The official client (or the coordinator) end to end, on SQLite and on PostgreSQL.
pytestmark = pytest.mark.postgres_too

X = dict(name="x", type="double", bounds=dict(min=0.0, max=1.0))
C = dict(name="c", type="categorical", categorical_values=["b", "a"])
LR = dict(name="lr", type="double", bounds=dict(min=1e-4, max=1.0), transformation="log")


@pytest.fixture
def eid(conn: Connection) -> str:
    return str(conn.experiments().create(name="upd", parameters=[X, C, LR]).id)


@pytest.fixture
def two(conn: Connection) -> str:
    metrics = [dict(name="a"), dict(name="b", threshold=1.0)]
    e = conn.experiments().create(name="two", parameters=[X], metrics=metrics, observation_budget=9)
    return str(e.id)


def refused(conn: Connection, eid: str, **body: Any) -> str:
    return str(refused_body(lambda: conn.experiments(eid).update(**body)).get("message"))


def names(conn: Connection, eid: str) -> list[str]:
    return [p.name for p in conn.experiments(eid).fetch().parameters]


class TestParametersReplaced:
    def test_left_out_parameters_are_deleted(self, conn: Connection, eid: str) -> None:
        e = conn.experiments(eid).update(parameters=[dict(name="x")])
        assert [p.name for p in e.parameters] == ["x"] == names(conn, eid)

    def test_new_parameter_needs_a_default(self, conn: Connection, eid: str) -> None:
        new = dict(name="n", type="int", bounds=dict(min=1, max=5))
        message = refused(conn, eid, parameters=[dict(name="x"), new])
        assert message.startswith("New parameters must have default values.")
        e = conn.experiments(eid).update(parameters=[dict(name="x"), dict(new, default_value=2)])
        assert [p.name for p in e.parameters] == ["n", "x"]

    def test_returning_parameter_needs_a_default(self, conn: Connection, eid: str) -> None:
        conn.experiments(eid).update(parameters=[dict(name="x")])
        assert "default" in refused(conn, eid, parameters=[dict(name="x"), C])
        conn.experiments(eid).update(parameters=[dict(name="x"), dict(C, default_value="a")])
        assert names(conn, eid) == ["c", "x"]

    def test_null_and_empty_lists_refused(self, conn: Connection, eid: str) -> None:
        refused(conn, eid, parameters=None)
        assert refused(conn, eid, parameters=[]) == "Experiments must have at least one parameter."
        refused(conn, eid, metrics=None)
        assert names(conn, eid) == ["c", "lr", "x"]

    def test_type_and_transformation_must_remain(self, conn: Connection, eid: str) -> None:
        message = refused(conn, eid, parameters=[dict(name="x", type="int")])
        assert message == "`type` attribute on parameter x must remain double"
        message = refused(conn, eid, parameters=[dict(name="lr", transformation="none")])
        assert message == "`transformation` attribute on parameter lr must remain log"

    def test_default_checked_on_update(self, conn: Connection, eid: str) -> None:
        all_ = [dict(name="x", default_value=0.5), dict(name="c"), dict(name="lr")]
        conn.experiments(eid).update(parameters=all_)
        message = refused(conn, eid, parameters=[dict(name="x", bounds=dict(min=0.7, max=1.0))])
        assert message == "`default_value` for parameter x is invalid - must be between 0.7 and 1.0"
        refused(
            conn, eid, parameters=[dict(name="c", categorical_values=["b", "d"], default_value="a")]
        )

    def test_log_bounds_and_default_checked(self, conn: Connection, eid: str) -> None:
        refused(conn, eid, parameters=[dict(name="lr", bounds=dict(min=0.0, max=1.0))])
        refused(conn, eid, parameters=[dict(name="lr", default_value=-1.0)])
        log = next(p for p in conn.experiments(eid).fetch().parameters if p.name == "lr")
        assert log.bounds.min == 1e-4 and log.default_value is None

    def test_categorical_enum_indices_stable(self, conn: Connection, eid: str) -> None:
        before = {
            v.name: v.enum_index
            for p in conn.experiments(eid).fetch().parameters
            if p.name == "c"
            for v in p.categorical_values
        }
        e = conn.experiments(eid).update(
            parameters=[
                dict(name="x"),
                dict(name="lr"),
                dict(name="c", categorical_values=["0", "b"]),
            ]
        )
        after = {
            v.name: v.enum_index
            for p in e.parameters
            if p.name == "c"
            for v in p.categorical_values
        }
        assert after == {"b": before["b"], "0": max(before.values()) + 1}

    def test_echoed_parameters_are_a_no_op(self, conn: Connection, eid: str) -> None:
        e = conn.experiments(eid).fetch()
        echoed = [p.to_json() for p in e.parameters]
        assert conn.experiments(eid).update(parameters=echoed).parameters == e.parameters


class TestMetrics:
    def test_thresholds_validated(self, conn: Connection, two: str) -> None:
        for bad in ("abc", True):
            refused(conn, two, metrics=[dict(name="a"), dict(name="b", threshold=bad)])
        fetched = conn.experiments(two).fetch()
        assert {m.name: m.threshold for m in fetched.metrics} == {"a": None, "b": 1.0}

    def test_threshold_set_and_cleared(self, conn: Connection, two: str) -> None:
        e = conn.experiments(two).update(
            metrics=[
                dict(name="a", threshold=2.0, objective="maximize"),
                dict(name="b", threshold=None),
            ]
        )
        assert {m.name: m.threshold for m in e.metrics} == {"a": 2.0, "b": None}

    def test_forbidden_changes(self, conn: Connection, two: str) -> None:
        both = [dict(name="a"), dict(name="b")]
        assert refused(conn, two, metrics=both[:1]) == "Changing the number of metrics is forbidden"
        assert refused(conn, two, metrics=[dict(name="a"), dict(name="z")]) == (
            "Changing the name of a metric is forbidden"
        )
        assert refused(conn, two, metrics=[dict(name="a", objective="minimize"), both[1]]) == (
            "Changing the objective of a metric is forbidden"
        )
        assert refused(conn, two, metrics=[dict(name="a", strategy="store"), both[1]]) == (
            "Changing the strategy of a metric is forbidden"
        )


class TestOtherKeys:
    def test_parallel_bandwidth_null(self, conn: Connection, eid: str) -> None:
        assert conn.experiments(eid).update(parallel_bandwidth=3).parallel_bandwidth == 3
        assert conn.experiments(eid).update(parallel_bandwidth=None).parallel_bandwidth is None

    def test_project_checked_and_cleared(self, conn: Connection, eid: str) -> None:
        assert "project" in refused(conn, eid, project="Not An Id")
        assert conn.experiments(eid).update(project="ok-1").project == "ok-1"
        assert conn.experiments(eid).update(project=None).project is None

    def test_grid_parameters_not_updatable(self, conn: Connection) -> None:
        g = dict(name="g", type="int", grid=[1, 2])
        e = conn.experiments().create(name="grid", type="grid", parameters=[g])
        message = refused(conn, str(e.id), parameters=[dict(name="g", grid=[1, 3])])
        assert message == "Parameters cannot be updated for experiments of type `grid`."


class TestHistoryAfterParameterChange:
    def test_suggest_and_observe_after_replacing_parameters(
        self, conn: Connection, eid: str
    ) -> None:
        """Observations made before the change keep their assignments; the optimizer
        rebuilds on the new space and serves it."""
        for _ in range(3):
            s = conn.experiments(eid).suggestions().create()
            conn.experiments(eid).observations().create(suggestion=s.id, value=1.0)
        new = dict(name="n", type="int", bounds=dict(min=1, max=5), default_value=3)
        conn.experiments(eid).update(parameters=[dict(name="x"), new])
        s = conn.experiments(eid).suggestions().create()
        assert set(s.assignments.to_json()) == {"n", "x"}
        conn.experiments(eid).observations().create(suggestion=s.id, value=2.0)
        assert conn.experiments(eid).fetch().progress.observation_count == 4
