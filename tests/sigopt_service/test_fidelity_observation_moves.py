"""Issue 18, observation updates that change `suggestion` / `assignments`, through the
official client, as sigopt-server allows them (`observation/from_json.py`,
`update_observation_data_assignments_task_from_json`; `handlers/validate/observation.py`;
its tests `test/integration/v1/endpoints/observations/update.py`): an observation keeps
exactly one of the two; a new suggestion of the same experiment brings its assignments;
new assignments drop the suggestion; "one observation per suggestion" still holds here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sigopt import Connection
from sigopt.exception import ApiException
from sigopt.ratelimit import failed_status_rate_limit

from sigopt_service.config import ServiceConfig
from tests.sigopt_service.conftest import EXPERIMENT

# The official client (or the coordinator) end to end, on SQLite and on PostgreSQL.
pytestmark = pytest.mark.postgres_too


@pytest.fixture
def from_suggestion(conn: Connection, eid: str) -> Any:
    s = conn.experiments(eid).suggestions().create()
    return conn.experiments(eid).observations().create(suggestion=s.id, values=[dict(value=1)])


@pytest.fixture
def from_assignments(conn: Connection, eid: str) -> Any:
    return (
        conn.experiments(eid)
        .observations()
        .create(assignments=dict(x=0.5), values=[dict(value=1, value_stddev=0.1)])
    )


@pytest.fixture(params=["suggestion", "assignments"])
def observation(request: pytest.FixtureRequest, from_suggestion: Any, from_assignments: Any) -> Any:
    return from_suggestion if request.param == "suggestion" else from_assignments


def refused(call: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ApiException) as raised:
        call()
    # The client sleeps ever longer after 5 failed answers in a row: these are on purpose.
    failed_status_rate_limit.clear()
    return int(raised.value.status_code), raised.value.to_json()


def _state(conn: Connection, eid: str, sid: str) -> str:
    return str(conn.experiments(eid).suggestions(sid).fetch().state)


class TestAllowedMoves:
    def test_new_suggestion_with_null_assignments(
        self, conn: Connection, eid: str, observation: Any
    ) -> None:
        """update.py `test_update_suggestion`: either kind takes a new suggestion."""
        s = conn.experiments(eid).suggestions().create()
        obs = conn.experiments(eid).observations(observation.id)
        updated = obs.update(suggestion=s.id, assignments=None)
        assert updated.suggestion == s.id
        assert updated.assignments.to_json() == s.assignments.to_json()
        assert updated.values[0].value == 1  # values are kept
        assert obs.fetch().suggestion == s.id
        assert _state(conn, eid, s.id) == "closed"

    def test_null_suggestion_with_assignments(
        self, conn: Connection, eid: str, observation: Any
    ) -> None:
        """update.py `test_nullify_suggestion_with_assignments`."""
        updated = (
            conn.experiments(eid)
            .observations(observation.id)
            .update(suggestion=None, assignments=dict(x=0.25))
        )
        assert updated.suggestion is None and updated.assignments.to_json() == {"x": 0.25}

    def test_from_a_suggestion(self, conn: Connection, eid: str, from_suggestion: Any) -> None:
        """update.py `test_update_observation_from_suggestion`; the suggestion left is
        open again, and a new suggestion alone suffices."""
        obs = conn.experiments(eid).observations(from_suggestion.id)
        same = obs.update(assignments=None)
        assert same.suggestion == from_suggestion.suggestion
        assert same.assignments.to_json() == from_suggestion.assignments.to_json()
        s = conn.experiments(eid).suggestions().create()
        moved = obs.update(suggestion=s.id)
        assert moved.suggestion == s.id
        assert moved.assignments.to_json() == s.assignments.to_json()
        assert _state(conn, eid, from_suggestion.suggestion) == "open"
        listed = conn.experiments(eid).suggestions().fetch(state="open")
        assert [x.id for x in listed.iterate_pages()] == [from_suggestion.suggestion]

    def test_from_assignments(self, conn: Connection, eid: str, from_assignments: Any) -> None:
        """update.py `test_update_observation_from_assignments`."""
        obs = conn.experiments(eid).observations(from_assignments.id)
        same = obs.update(suggestion=None)
        assert same.suggestion is None
        assert same.assignments.to_json() == from_assignments.assignments.to_json()
        updated = obs.update(assignments=dict(x=0.75))
        assert updated.suggestion is None and updated.assignments.to_json() == {"x": 0.75}
        assert updated.values[0].value_stddev == 0.1

    def test_best_assignments_follow_a_move(
        self, conn: Connection, eid: str, from_suggestion: Any
    ) -> None:
        """The history (best assignments, the optimizer's rebuild) sees the move."""
        conn.experiments(eid).observations(from_suggestion.id).update(
            suggestion=None, assignments=dict(x=0.125)
        )
        best = conn.experiments(eid).best_assignments().fetch()
        assert [b.assignments.to_json() for b in best.iterate_pages()] == [{"x": 0.125}]
        assert _state(conn, eid, from_suggestion.suggestion) == "open"
        conn.experiments(eid).suggestions().create()  # the optimizer rebuilt from the store


class TestRefusedMoves:
    def test_both_or_neither(self, conn: Connection, eid: str, observation: Any) -> None:
        """update.py `test_invalid_updates`: both null, or both set, is a 400."""
        s = conn.experiments(eid).suggestions().create()
        obs = conn.experiments(eid).observations(observation.id)
        status, body = refused(lambda: obs.update(suggestion=None, assignments=None))
        assert status == 400 and body["field"] == "suggestion"
        status, body = refused(lambda: obs.update(suggestion=s.id, assignments=dict(x=0.5)))
        assert status == 400 and body["field"] == "assignments"
        assert "both `suggestion` and `assignments`" in body["message"]
        assert obs.fetch().to_json() == observation.to_json()

    def test_one_sided_on_a_suggestion(
        self, conn: Connection, eid: str, from_suggestion: Any
    ) -> None:
        """An observation of a suggestion: `suggestion: null` alone, or `assignments`
        alone, would leave it with both or neither."""
        obs = conn.experiments(eid).observations(from_suggestion.id)
        status, body = refused(lambda: obs.update(suggestion=None))
        assert (status, body["field"]) == (400, "suggestion")
        status, body = refused(lambda: obs.update(assignments=dict(x=0.5)))
        assert (status, body["field"]) == (400, "assignments")

    def test_one_sided_on_assignments(
        self, conn: Connection, eid: str, from_assignments: Any
    ) -> None:
        obs = conn.experiments(eid).observations(from_assignments.id)
        s = conn.experiments(eid).suggestions().create()
        status, body = refused(lambda: obs.update(assignments=None))
        assert (status, body["field"]) == (400, "assignments")
        status, body = refused(lambda: obs.update(suggestion=s.id))
        assert (status, body["field"]) == (400, "suggestion")
        assert _state(conn, eid, s.id) == "open"

    def test_unknown_deleted_or_foreign_suggestion(
        self, conn: Connection, eid: str, from_suggestion: Any
    ) -> None:
        """SigOpt's wording: "No suggestion: S for experiment: E"."""
        gone = conn.experiments(eid).suggestions().create()
        conn.experiments(eid).suggestions(gone.id).delete()
        other = conn.experiments().create(**EXPERIMENT)
        foreign = conn.experiments(other.id).suggestions().create()
        obs = conn.experiments(eid).observations(from_suggestion.id)
        for sid in ("999999", gone.id, foreign.id):
            status, body = refused(lambda sid=sid: obs.update(suggestion=sid))
            assert (status, body["field"]) == (400, "suggestion")
            assert body["message"] == f"No suggestion: {sid} for experiment: {eid}"
        assert obs.fetch().suggestion == from_suggestion.suggestion

    def test_invalid_assignments(self, conn: Connection, eid: str, from_assignments: Any) -> None:
        """Assignments are checked against the experiment, as on create."""
        obs = conn.experiments(eid).observations(from_assignments.id)
        for bad, field in [
            (dict(x="high"), "assignments.x"),
            (dict(x=0.5, z=1), "assignments.z"),
            (dict(), "assignments"),
        ]:
            status, body = refused(lambda bad=bad: obs.update(assignments=bad))
            assert (status, body["field"]) == (400, field)
        assert obs.fetch().assignments.to_json() == {"x": 0.5}

    def test_onto_an_observed_suggestion(
        self, conn: Connection, eid: str, from_suggestion: Any
    ) -> None:
        """Ours, as on create: a 409 `already_observed` (one observation per suggestion)."""
        s = conn.experiments(eid).suggestions().create()
        conn.experiments(eid).observations().create(suggestion=s.id, values=[dict(value=2)])
        obs = conn.experiments(eid).observations(from_suggestion.id)
        status, body = refused(lambda: obs.update(suggestion=s.id))
        assert (status, body["code"]) == (409, "already_observed")
        assert obs.fetch().suggestion == from_suggestion.suggestion


class TestDuplicatesAllowed:
    @pytest.fixture
    def service_config(self, tmp_path: Path) -> ServiceConfig:
        return ServiceConfig(
            port=0, db=tmp_path / "service.db", seed=1, allow_duplicate_observations=True
        )

    def test_onto_an_observed_suggestion(
        self, conn: Connection, eid: str, from_suggestion: Any
    ) -> None:
        """sigopt-server's behaviour: the move is stored; the suggestion left reopens."""
        s = conn.experiments(eid).suggestions().create()
        conn.experiments(eid).observations().create(suggestion=s.id, values=[dict(value=2)])
        moved = conn.experiments(eid).observations(from_suggestion.id).update(suggestion=s.id)
        assert moved.suggestion == s.id
        assert _state(conn, eid, from_suggestion.suggestion) == "open"
