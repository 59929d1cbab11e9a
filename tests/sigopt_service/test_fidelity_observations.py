"""Issue 18, observations through the official client: updates keep `value_stddev` and
whatever they leave out; failed-observation rules as sigopt-server's tests state them
(test/integration/v1/endpoints/observations/failed.py and update.py); `task` refused."""

from __future__ import annotations

from typing import Any

import pytest
from sigopt import Connection
from sigopt.exception import ApiException

# The official client (or the coordinator) end to end, on SQLite and on PostgreSQL.
pytestmark = pytest.mark.postgres_too


def _observe(conn: Connection, eid: str, **body: Any) -> Any:
    s = conn.experiments(eid).suggestions().create()
    return conn.experiments(eid).observations().create(suggestion=s.id, **body)


def _status(call: Any) -> int:
    with pytest.raises(ApiException) as raised:
        call()
    return int(raised.value.status_code)


class TestUpdateKeepsValueStddev:
    def test_new_value_keeps_the_stored_stddev(self, conn: Connection, eid: str) -> None:
        o = _observe(conn, eid, values=[dict(value=1, value_stddev=0.1)])
        updated = (
            conn.experiments(eid).observations(o.id).update(values=[{"name": None, "value": 2.6}])
        )
        assert (updated.values[0].value, updated.values[0].value_stddev) == (2.6, 0.1)
        fetched = conn.experiments(eid).observations(o.id).fetch()
        assert (fetched.values[0].value, fetched.values[0].value_stddev) == (2.6, 0.1)

    def test_top_level_value_keeps_the_stored_stddev(self, conn: Connection, eid: str) -> None:
        o = _observe(conn, eid, values=[dict(name="y", value=1, value_stddev=0.1)])
        updated = conn.experiments(eid).observations(o.id).update(value=3)
        assert (updated.value, updated.value_stddev) == (3, 0.1)

    def test_top_level_null_stddev_erases_it(self, conn: Connection, eid: str) -> None:
        """`value_stddev: null` beside a top-level `value` clears, as inside `values`."""
        o = _observe(conn, eid, values=[dict(name="y", value=1, value_stddev=0.1)])
        updated = conn.experiments(eid).observations(o.id).update(value=3, value_stddev=None)
        assert (updated.value, updated.value_stddev) == (3, None)
        fetched = conn.experiments(eid).observations(o.id).fetch()
        assert fetched.values[0].value_stddev is None

    def test_explicit_null_erases_the_stddev(self, conn: Connection, eid: str) -> None:
        o = _observe(conn, eid, values=[dict(value=1, value_stddev=0.1)])
        updated = (
            conn.experiments(eid)
            .observations(o.id)
            .update(values=[{"name": None, "value": 1, "value_stddev": None}])
        )
        assert updated.values[0].value_stddev is None

    def test_new_stddev_replaces_it(self, conn: Connection, eid: str) -> None:
        o = _observe(conn, eid, values=[dict(value=1, value_stddev=0.1)])
        updated = (
            conn.experiments(eid)
            .observations(o.id)
            .update(values=[{"name": "", "value": 3, "value_stddev": 1}], failed=False)
        )
        assert (updated.failed, updated.values[0].value, updated.values[0].value_stddev) == (
            False,
            3,
            1,
        )

    def test_empty_update_keeps_everything(self, conn: Connection, eid: str) -> None:
        o = _observe(conn, eid, values=[dict(value=1, value_stddev=0.1)], metadata={"k": "v"})
        updated = conn.experiments(eid).observations(o.id).update()
        assert updated.values[0].value_stddev == 0.1 and updated.metadata.to_json() == {"k": "v"}


class TestFailedRules:
    """sigopt-server observations/failed.py, for an observation with a value and a failed one."""

    @pytest.fixture(params=[{"values": [{"value": 1}]}, {"failed": True}])
    def oid(self, request: pytest.FixtureRequest, conn: Connection, eid: str) -> str:
        return str(_observe(conn, eid, **request.param).id)

    def test_failed_true_with_null_values(self, conn: Connection, eid: str, oid: str) -> None:
        updated = conn.experiments(eid).observations(oid).update(failed=True, values=None)
        assert updated.failed is True and not updated.values

    def test_values_with_failed_false(self, conn: Connection, eid: str, oid: str) -> None:
        updated = (
            conn.experiments(eid).observations(oid).update(values=[{"value": 3}], failed=False)
        )
        assert updated.failed is False and updated.values[0].value == 3

    def test_invalid_updates(self, conn: Connection, eid: str, oid: str) -> None:
        obs = conn.experiments(eid).observations(oid)
        assert _status(lambda: obs.update(failed=False, values=[{"value": None}])) == 400
        assert _status(lambda: obs.update(failed=True, values=[{"value": 1}])) == 400
        assert (
            _status(lambda: obs.update(values=[{"name": "", "values": None}], failed=False)) == 400
        )

    def test_failed_null_with_values_is_not_failed(self, conn: Connection, eid: str) -> None:
        o = _observe(conn, eid, failed=True)
        updated = (
            conn.experiments(eid).observations(o.id).update(failed=None, values=[{"value": 2}])
        )
        assert updated.failed is False and updated.values[0].value == 2

    def test_failed_with_values_on_create_is_a_400(self, conn: Connection, eid: str) -> None:
        s = conn.experiments(eid).suggestions().create()
        create = conn.experiments(eid).observations().create
        assert _status(lambda: create(suggestion=s.id, failed=True, values=[{"value": 1}])) == 400


class TestTaskOnObservationCreate:
    def test_task_is_a_400(self, conn: Connection, eid: str) -> None:
        s = conn.experiments(eid).suggestions().create()
        with pytest.raises(ApiException) as raised:
            conn.experiments(eid).observations().create(suggestion=s.id, value=1, task="cheap")
        assert raised.value.status_code == 400
        assert conn.experiments(eid).observations().fetch().count == 0
