"""Issue 18, experiment create through the official client: every invalid body is a 400
(never a 500), nothing invalid is stored, and the answers read as sigopt-server's
(`handlers/experiments/create.py`, `parameters/from_json.py`)."""

from __future__ import annotations

from typing import Any

import pytest
from sigopt import Connection

from tests.sigopt_service.api_cases import refused_body

# The official client (or the coordinator) end to end, on SQLite and on PostgreSQL.
pytestmark = pytest.mark.postgres_too

X = dict(name="x", type="double", bounds=dict(min=0.0, max=1.0))


def refused(conn: Connection, **body: Any) -> str:
    """The message of the 400 that creating `body` answers."""
    body.setdefault("name", "fidelity")
    body.setdefault("parameters", [X])
    return str(refused_body(lambda: conn.experiments().create(**body)).get("message"))


class TestNoFiveHundred:
    """Was a 500: a pydantic error escaped validation. Blank strings and nulls anywhere
    in a create body are 400s."""

    @pytest.mark.parametrize("blank", ["", "   "])
    def test_blank_metric_names(self, conn: Connection, blank: str) -> None:
        refused(conn, metrics=[blank])
        refused(conn, metrics=[dict(name=blank)])

    @pytest.mark.parametrize(
        "body",
        [
            dict(name="   "),
            dict(parameters=[dict(X, name=" ")]),
            dict(parameters=[dict(name="c", type="categorical", categorical_values=["", "b"])]),
            dict(parameters=[dict(X, transformation="")]),
            dict(parameters=[dict(X, default_value="")]),
            dict(parameters=None),
            dict(parameters=[None]),
            dict(metrics=[None]),
            dict(parameters=[dict(X, grid=None, bounds=None)]),
            dict(project=""),
            dict(type=""),
        ],
    )
    def test_blank_and_null_values(self, conn: Connection, body: dict[str, Any]) -> None:
        refused(conn, **body)


class TestNothingInvalidStored:
    def test_default_value_outside_bounds(self, conn: Connection) -> None:
        message = refused(conn, parameters=[dict(X, default_value=2.0)])
        assert message == "`default_value` for parameter x is invalid - must be between 0.0 and 1.0"

    def test_log_default_must_be_positive(self, conn: Connection) -> None:
        log = dict(name="lr", type="double", bounds=dict(min=1e-5, max=1.0), transformation="log")
        assert "lr" in refused(conn, parameters=[dict(log, default_value=0.0)])
        assert "lr" in refused(conn, parameters=[dict(log, default_value=1e-6)])

    def test_categorical_default_not_a_value(self, conn: Connection) -> None:
        c = dict(name="c", type="categorical", categorical_values=["a", "b"], default_value="z")
        message = refused(conn, parameters=[c])
        assert message == (
            "`default_value` for parameter c is invalid - must be a valid categorical value."
        )

    def test_empty_metrics_list(self, conn: Connection) -> None:
        assert refused(conn, metrics=[]) == "The `metrics` list must contain a metric"

    def test_one_value_grid(self, conn: Connection) -> None:
        message = refused(conn, parameters=[dict(name="g", type="int", grid=[3])])
        assert (
            message
            == "`grid` provided for parameter g is invalid. Must have 2 or more values in grid"
        )

    @pytest.mark.parametrize("project", ["My Project", "a/b", "x" * 33, "ÄÖ"])
    def test_project_ids(self, conn: Connection, project: str) -> None:
        assert "project" in refused(conn, project=project)

    def test_valid_project_id_kept(self, conn: Connection) -> None:
        e = conn.experiments().create(name="p", parameters=[X], project="team-a_1.v2")
        assert e.project == "team-a_1.v2"


class TestSigOptWording:
    def test_duplicate_metric_name(self, conn: Connection) -> None:
        message = refused(conn, metrics=[dict(name="m"), dict(name="m")], observation_budget=5)
        assert message == "Duplicate metric name: m"

    def test_unnamed_metric_among_several(self, conn: Connection) -> None:
        message = refused(conn, metrics=[dict(name="m"), dict()], observation_budget=5)
        assert message == "Multimetric experiments do not support unnamed metrics"

    def test_only_stored_metrics(self, conn: Connection) -> None:
        message = refused(conn, metrics=[dict(name="m", strategy="store")])
        assert message == "Experiments must have optimized or constraint metrics"

    @pytest.mark.parametrize("threshold", ["abc", True])
    def test_threshold_of_wrong_type(self, conn: Connection, threshold: Any) -> None:
        metrics = [dict(name="a"), dict(name="b", threshold=threshold)]
        assert "threshold" in refused(conn, metrics=metrics, observation_budget=5)


class TestGrid:
    GRID = [
        dict(name="g", type="int", grid=[4, 1, 2]),
        dict(name="c", type="categorical", categorical_values=["a", "b"]),
    ]

    def test_budget_from_grid_size_and_bounds_from_values(self, conn: Connection) -> None:
        e = conn.experiments().create(name="grid", type="grid", parameters=self.GRID)
        assert e.observation_budget == 6
        g = next(p for p in e.parameters if p.name == "g")
        assert (g.bounds.min, g.bounds.max) == (1, 4)
        assert g.grid == [1, 2, 4]

    def test_equal_budget_accepted_other_refused(self, conn: Connection) -> None:
        e = conn.experiments().create(
            name="grid", type="grid", parameters=self.GRID, observation_budget=6
        )
        assert e.observation_budget == 6
        message = refused(conn, type="grid", parameters=self.GRID, observation_budget=5)
        assert message == (
            "The specified `observation_budget` of 5 does not match the computed budget of 6"
        )

    def test_grid_with_bounds_refused(self, conn: Connection) -> None:
        g = dict(name="g", type="int", grid=[1, 2], bounds=dict(min=1, max=2))
        assert "grid" in refused(conn, parameters=[g])


class TestSearchExperiments:
    """All metrics `constraint`: SigOpt's search experiment. Suggestions are drawn at
    random from the space (no objective to model); observations and best work."""

    def test_created_and_served(self, conn: Connection) -> None:
        e = conn.experiments().create(
            name="search",
            parameters=[X],
            metrics=[dict(name="c", strategy="constraint", threshold=0.5)],
            observation_budget=4,
        )
        for _ in range(4):
            s = conn.experiments(e.id).suggestions().create()
            assert 0.0 <= s.assignments["x"] <= 1.0
            conn.experiments(e.id).observations().create(
                suggestion=s.id, values=[dict(name="c", value=s.assignments["x"])]
            )
        fetched = conn.experiments(e.id).fetch()
        assert fetched.progress.observation_count == 4
        conn.experiments(e.id).best_assignments().fetch()


class TestFields:
    def test_parallel_bandwidth_null_unless_set(self, conn: Connection) -> None:
        e = conn.experiments().create(name="pb", parameters=[X])
        assert e.parallel_bandwidth is None
        e = conn.experiments().create(name="pb", parameters=[X], parallel_bandwidth=2)
        assert e.parallel_bandwidth == 2

    def test_prior_returned_as_sent(self, conn: Connection) -> None:
        prior = dict(name="normal", mean=0.5, scale=0.1)
        e = conn.experiments().create(name="prior", parameters=[dict(X, prior=prior)])
        assert e.parameters[0].prior.to_json() == prior
        assert conn.experiments(e.id).fetch().parameters[0].prior.to_json() == prior
