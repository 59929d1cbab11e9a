"""Issue 18, suggestions through the official client: an update keeps what it leaves out,
and `task` is refused as sigopt-server refuses it outside multitask experiments."""

from __future__ import annotations

import pytest
from sigopt import Connection
from sigopt.exception import ApiException

# The official client (or the coordinator) end to end, on SQLite and on PostgreSQL.
pytestmark = pytest.mark.postgres_too


class TestSuggestionUpdateKeepsWhatItLeavesOut:
    """sigopt-server handlers/experiments/suggestions/update.py: `metadata` left out keeps
    the stored metadata; `metadata: null` clears it."""

    def test_empty_update_keeps_metadata(self, conn: Connection, eid: str) -> None:
        s = conn.experiments(eid).suggestions().create(metadata={"host": "a"})
        updated = conn.experiments(eid).suggestions(s.id).update()
        assert updated.metadata.to_json() == {"host": "a"}
        assert conn.experiments(eid).suggestions(s.id).fetch().metadata.to_json() == {"host": "a"}

    def test_metadata_replaced_then_cleared_by_null(self, conn: Connection, eid: str) -> None:
        s = conn.experiments(eid).suggestions().create(metadata={"host": "a"})
        replaced = conn.experiments(eid).suggestions(s.id).update(metadata={"host": "b"})
        assert replaced.metadata.to_json() == {"host": "b"}
        cleared = conn.experiments(eid).suggestions(s.id).update(metadata=None)
        assert cleared.metadata is None
        assert conn.experiments(eid).suggestions(s.id).fetch().metadata is None


class TestTaskOnSuggestionCreate:
    """sigopt-server handlers/validate/suggestion.py: `task` outside a multitask experiment
    is a 400 (it was silently ignored)."""

    @pytest.mark.parametrize("task", ["cheap", {"name": "cheap", "cost": 0.1}])
    def test_task_is_a_400_naming_task(self, conn: Connection, eid: str, task: object) -> None:
        with pytest.raises(ApiException) as raised:
            conn.experiments(eid).suggestions().create(task=task)
        assert raised.value.status_code == 400
        assert "`task` should only be present for multitask experiments" in str(raised.value)
        assert conn.experiments(eid).suggestions().fetch().count == 0

    def test_task_with_assignments_is_a_400(self, conn: Connection, eid: str) -> None:
        with pytest.raises(ApiException) as raised:
            conn.experiments(eid).suggestions().create(assignments={"x": 0.5}, task="cheap")
        assert raised.value.status_code == 400


class TestDeletedListing:
    """sigopt-server suggestions/detail.py and observations/detail.py: `deleted=true`
    lists the deleted items only (it listed every item)."""

    def test_suggestions_deleted_true_lists_only_deleted(self, conn: Connection, eid: str) -> None:
        kept = conn.experiments(eid).suggestions().create()
        gone = conn.experiments(eid).suggestions().create()
        conn.experiments(eid).suggestions(gone.id).delete()
        deleted = conn.experiments(eid).suggestions().fetch(deleted=True)
        assert [s.id for s in deleted.iterate_pages()] == [gone.id]
        assert deleted.count == 1
        live = conn.experiments(eid).suggestions().fetch()
        assert [s.id for s in live.iterate_pages()] == [kept.id]

    def test_observations_deleted_true_lists_only_deleted(self, conn: Connection, eid: str) -> None:
        made = []
        for value in (1.0, 2.0):
            s = conn.experiments(eid).suggestions().create()
            made.append(conn.experiments(eid).observations().create(suggestion=s.id, value=value))
        conn.experiments(eid).observations(made[0].id).delete()
        deleted = conn.experiments(eid).observations().fetch(deleted=True)
        assert [o.id for o in deleted.iterate_pages()] == [made[0].id]
        live = conn.experiments(eid).observations().fetch(deleted=False)
        assert [o.id for o in live.iterate_pages()] == [made[1].id]
