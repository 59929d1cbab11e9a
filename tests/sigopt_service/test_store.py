"""The store contract (`service/store.py` docstring), run against every store, plus SQLite
durability: reopening, schema versions, error mapping and a real kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from sigopt_service import sqlite_schema
from sigopt_service.errors import Conflict, InvalidRequest, NotFound, StoreError
from sigopt_service.models import (
    Assignments,
    Bounds,
    ExperimentState,
    Metric,
    MetricEvaluation,
    Objective,
    Parameter,
    ParameterType,
    SuggestionState,
)
from sigopt_service.sqlite_schema import SCHEMA_VERSION
from sigopt_service.sqlite_store import SqliteStore
from sigopt_service.store import BaseStore, InMemoryStore, NewExperiment, NewObservation

REPO_ROOT = Path(__file__).resolve().parents[2]


def new_experiment(name: str = "exp") -> NewExperiment:
    return NewExperiment(
        name=name,
        parameters=[
            Parameter(name="x", type=ParameterType.DOUBLE, bounds=Bounds(min=0.0, max=1.0))
        ],
        metrics=[Metric(name="y", objective=Objective.MAXIMIZE)],
        metadata={"owner": "tests"},
    )


def observed(suggestion: int | None = None, value: float = 1.0) -> NewObservation:
    return NewObservation(
        suggestion=suggestion,
        assignments=None if suggestion is not None else {"x": 0.25},
        values=[MetricEvaluation(name="y", value=value)],
    )


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseStore]:
    made: BaseStore = (
        InMemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "store.db")
    )
    yield made
    made.close()


@pytest.fixture
def eid(store: BaseStore) -> int:
    return int(store.create_experiment(new_experiment()).id)


class TestStoreContract:
    """Every store keeps the contract of `BaseStore`."""

    class TestIds:
        """Ids are positive, increasing in creation order and never reused."""

        def test_experiment_ids_increase(self, store: BaseStore) -> None:
            """Experiments get increasing positive ids, as strings on the wire."""
            ids = [int(store.create_experiment(new_experiment(str(i))).id) for i in range(3)]
            assert ids[0] >= 1
            assert ids == sorted(ids) and len(set(ids)) == 3

        def test_suggestion_and_observation_ids_increase(self, store: BaseStore, eid: int) -> None:
            """Suggestion and observation ids increase within a batch and across calls."""
            sids = [int(store.create_suggestion(eid, {"x": 0.1}).id) for _ in range(3)]
            oids = [int(o.id) for o in store.create_observations(eid, [observed()] * 3)]
            oids.append(int(store.create_observations(eid, [observed()])[0].id))
            assert sids == sorted(sids) and len(set(sids)) == 3
            assert oids == sorted(oids) and len(set(oids)) == 4

        def test_deleted_ids_are_not_reused(self, store: BaseStore, eid: int) -> None:
            """A deleted row keeps its id, and the next row gets a larger one."""
            first = int(store.create_suggestion(eid, {"x": 0.1}).id)
            store.delete_suggestion(eid, first)
            assert int(store.create_suggestion(eid, {"x": 0.2}).id) > first

        def test_created_fields(self, store: BaseStore, eid: int) -> None:
            """Created objects carry their experiment, state and creation time."""
            experiment = store.get_experiment(eid)
            assert experiment.state is ExperimentState.ACTIVE
            assert experiment.progress is None
            assert experiment.created > 0 and experiment.updated == experiment.created
            suggestion = store.create_suggestion(eid, {"x": 0.1}, {"run": "r1"})
            assert suggestion.experiment == str(eid)
            assert suggestion.state is SuggestionState.OPEN and not suggestion.deleted
            assert suggestion.metadata == {"run": "r1"}
            [obs] = store.create_observations(eid, [observed(int(suggestion.id), 3.0)])
            assert obs.suggestion == suggestion.id
            assert obs.assignments == {"x": 0.1}
            assert obs.value == 3.0 and obs.created > 0 and not obs.failed

    class TestSnapshots:
        """Returned objects are snapshots: later writes and caller mutations do not leak."""

        def test_later_writes_do_not_mutate(self, store: BaseStore, eid: int) -> None:
            """An object returned before a write still shows the old state."""
            experiment = store.get_experiment(eid)
            suggestion = store.create_suggestion(eid, {"x": 0.1})
            store.create_observations(eid, [observed(int(suggestion.id))])
            store.update_experiment(eid, {"name": "renamed"})
            assert experiment.name == "exp"
            assert suggestion.state is SuggestionState.OPEN
            assert store.get_suggestion(eid, int(suggestion.id)).state is SuggestionState.CLOSED

        def test_caller_mutations_do_not_leak(self, store: BaseStore, eid: int) -> None:
            """Mutating an argument or a returned dict leaves the stored data alone."""
            assignments: Assignments = {"x": 0.1}
            suggestion = store.create_suggestion(eid, assignments)
            assignments["x"] = 0.9
            suggestion.assignments["x"] = 0.8
            fetched = store.get_suggestion(eid, int(suggestion.id))
            assert fetched.assignments == {"x": 0.1}
            fetched.assignments["x"] = 0.7
            experiment = store.get_experiment(eid)
            assert experiment.metadata is not None
            experiment.metadata["owner"] = "someone else"
            assert store.get_suggestion(eid, int(suggestion.id)).assignments == {"x": 0.1}
            assert store.get_experiment(eid).metadata == {"owner": "tests"}

    class TestNotFound:
        """Missing ids raise NotFound with SigOpt's messages, other experiments included."""

        def test_missing_experiment(self, store: BaseStore) -> None:
            """Every experiment-scoped call names the missing experiment."""
            with pytest.raises(NotFound, match=r"^No experiment 7$"):
                store.get_experiment(7)
            with pytest.raises(NotFound, match=r"^No experiment 7$"):
                store.create_suggestion(7, {"x": 0.1})
            with pytest.raises(NotFound, match=r"^No experiment 7$"):
                store.create_observations(7, [observed()])
            with pytest.raises(NotFound, match=r"^No experiment 7$"):
                store.list_observations(7)
            with pytest.raises(NotFound, match=r"^No experiment 7$"):
                store.update_experiment(7, {"name": "n"})

        def test_missing_suggestion(self, store: BaseStore) -> None:
            """An unknown suggestion and one of another experiment are both missing."""
            for _ in range(7):
                store.create_experiment(new_experiment())
            other = store.create_suggestion(1, {"x": 0.1})
            for _ in range(int(other.id), 5):
                store.create_suggestion(1, {"x": 0.1})
            message = r"^No suggestion 5 for experiment 7$"
            with pytest.raises(NotFound, match=message):
                store.get_suggestion(7, 5)
            with pytest.raises(NotFound, match=message):
                store.update_suggestion(7, 5, None)
            with pytest.raises(NotFound, match=message):
                store.delete_suggestion(7, 5)
            assert store.get_suggestion(1, 5).id == "5"

        def test_missing_observation(self, store: BaseStore) -> None:
            """An unknown observation and one of another experiment are both missing."""
            for _ in range(7):
                store.create_experiment(new_experiment())
            store.create_observations(1, [observed()] * 9)
            message = r"^No observation 9 for experiment 7$"
            with pytest.raises(NotFound, match=message):
                store.get_observation(7, 9)
            with pytest.raises(NotFound, match=message):
                store.update_observation(7, 9, {"failed": True})
            with pytest.raises(NotFound, match=message):
                store.delete_observation(7, 9)
            with pytest.raises(NotFound, match=r"^No observation 10 for experiment 1$"):
                store.get_observation(1, 10)

    class TestObservationSuggestionReference:
        """An observation naming a bad suggestion raises InvalidRequest and stores nothing."""

        @pytest.mark.parametrize("kind", ["unknown", "deleted", "other_experiment"])
        def test_bad_suggestion_rejects_whole_batch(
            self, store: BaseStore, eid: int, kind: str
        ) -> None:
            """The batch fails with SigOpt's message and leaves no observation behind."""
            other_eid = int(store.create_experiment(new_experiment("other")).id)
            good = int(store.create_suggestion(eid, {"x": 0.1}).id)
            bad = 999
            if kind == "deleted":
                bad = int(store.create_suggestion(eid, {"x": 0.2}).id)
                store.delete_suggestion(eid, bad)
            elif kind == "other_experiment":
                bad = int(store.create_suggestion(other_eid, {"x": 0.3}).id)
            batch = [observed(), observed(good), observed(bad)]
            with pytest.raises(InvalidRequest, match=rf"^No suggestion: {bad} for experiment: "):
                store.create_observations(eid, batch)
            assert store.list_observations(eid, include_deleted=True).count == 0
            assert store.get_suggestion(eid, good).state is SuggestionState.OPEN
            # The failed batch consumed nothing visible: the next one still works.
            assert len(store.create_observations(eid, [observed(good)])) == 1

        def test_duplicate_observations_allowed(self, store: BaseStore, eid: int) -> None:
            """Asked to, two observations may name the same suggestion (spec section 4)."""
            sid = int(store.create_suggestion(eid, {"x": 0.1}).id)
            store.create_observations(eid, [observed(sid), observed(sid)], allow_duplicates=True)
            assert store.observation_count(eid) == 2

        def test_second_observation_conflicts(self, store: BaseStore, eid: int) -> None:
            """By default a suggestion is observed once, also within one batch; a refused
            batch stores nothing."""
            sid = int(store.create_suggestion(eid, {"x": 0.1}).id)
            other = int(store.create_suggestion(eid, {"x": 0.2}).id)
            with pytest.raises(Conflict, match="observed twice in this request"):
                store.create_observations(eid, [observed(other), observed(sid), observed(sid)])
            assert store.observation_count(eid) == 0
            store.create_observations(eid, [observed(sid)])
            with pytest.raises(Conflict, match=rf"^Suggestion {sid} already has an observation"):
                store.create_observations(eid, [observed(other), observed(sid)])
            assert store.observation_count(eid) == 1
            assert store.get_suggestion(eid, other).state is SuggestionState.OPEN

        def test_dry_run_checks_and_stores_nothing(self, store: BaseStore, eid: int) -> None:
            """A dry run raises what a real call would, and otherwise stores nothing."""
            sid = int(store.create_suggestion(eid, {"x": 0.1}).id)
            assert store.create_observations(eid, [observed(sid)], dry_run=True) == []
            assert store.observation_count(eid) == 0
            assert store.get_suggestion(eid, sid).state is SuggestionState.OPEN
            with pytest.raises(InvalidRequest, match="No suggestion: 999"):
                store.create_observations(eid, [observed(999)], dry_run=True)

    class TestSuggestionState:
        """Suggestion state is derived from observations and deletion."""

        def test_observation_closes_and_delete_does_not_reopen(
            self, store: BaseStore, eid: int
        ) -> None:
            """An observation closes its suggestion; deleting the observation keeps it closed."""
            sid = int(store.create_suggestion(eid, {"x": 0.1}).id)
            assert [s.id for s in store.open_suggestions(eid)] == [str(sid)]
            [obs] = store.create_observations(eid, [observed(sid)])
            assert store.get_suggestion(eid, sid).state is SuggestionState.CLOSED
            store.delete_observation(eid, int(obs.id))
            assert store.get_suggestion(eid, sid).state is SuggestionState.CLOSED
            assert store.open_suggestions(eid) == []
            assert store.open_suggestion_count(eid) == 0

        def test_assignments_observation_closes_nothing(self, store: BaseStore, eid: int) -> None:
            """An observation with bare assignments leaves matching suggestions open."""
            sid = int(store.create_suggestion(eid, {"x": 0.25}).id)
            store.create_observations(eid, [observed()])
            assert store.get_suggestion(eid, sid).state is SuggestionState.OPEN

        def test_deleted_suggestions_never_open(self, store: BaseStore, eid: int) -> None:
            """Deleted suggestions leave the open list, the open count and open_only pages."""
            s1, s2, s3 = (int(store.create_suggestion(eid, {"x": 0.1}).id) for _ in range(3))
            store.delete_suggestion(eid, s2)
            store.delete_suggestion(eid, s2)  # idempotent
            assert [s.id for s in store.open_suggestions(eid)] == [str(s1), str(s3)]
            page = store.list_suggestions(eid, open_only=True, include_deleted=True)
            assert [s.id for s in page.items] == [str(s3), str(s1)]
            assert store.open_suggestion_count(eid) == 2
            assert store.get_suggestion(eid, s2).deleted

    class TestDeleteSuggestions:
        """Bulk suggestion deletes remove all or only open suggestions."""

        def _three(self, store: BaseStore, eid: int) -> tuple[int, int, int]:
            closed, open_, gone = (int(store.create_suggestion(eid, {"x": 0.1}).id) for _ in "abc")
            store.create_observations(eid, [observed(closed)])
            store.delete_suggestion(eid, gone)
            return closed, open_, gone

        def test_open_only(self, store: BaseStore, eid: int) -> None:
            """With open_only, closed suggestions survive and already deleted are not counted."""
            closed, open_, _ = self._three(store, eid)
            assert store.delete_suggestions(eid, open_only=True) == 1
            assert store.get_suggestion(eid, open_).deleted
            assert not store.get_suggestion(eid, closed).deleted
            assert store.suggestion_count(eid) == 3

        def test_all(self, store: BaseStore, eid: int) -> None:
            """Without open_only, every not yet deleted suggestion is deleted."""
            closed, _, _ = self._three(store, eid)
            assert store.delete_suggestions(eid, open_only=False) == 2
            assert store.get_suggestion(eid, closed).deleted
            assert store.list_suggestions(eid).count == 0
            assert store.list_suggestions(eid, include_deleted=True).count == 3

    class TestPagination:
        """Listings page newest first by id with a cursor and a total count."""

        def test_suggestions_newest_first_with_cursor(self, store: BaseStore, eid: int) -> None:
            """Pages follow each other through the cursor until has_more is False."""
            ids = [int(store.create_suggestion(eid, {"x": 0.1}).id) for _ in range(5)]
            first = store.list_suggestions(eid, limit=2)
            assert [int(s.id) for s in first.items] == ids[::-1][:2]
            assert first.count == 5 and first.has_more
            second = store.list_suggestions(eid, limit=2, cursor=int(first.items[-1].id))
            assert [int(s.id) for s in second.items] == ids[::-1][2:4]
            assert second.count == 5 and second.has_more
            third = store.list_suggestions(eid, limit=2, cursor=int(second.items[-1].id))
            assert [int(s.id) for s in third.items] == ids[:1]
            assert not third.has_more

        def test_observations_ascending(self, store: BaseStore, eid: int) -> None:
            """Ascending observation pages continue above the cursor."""
            ids = [int(o.id) for o in store.create_observations(eid, [observed()] * 5)]
            page = store.list_observations(eid, ascending=True, limit=3)
            assert [int(o.id) for o in page.items] == ids[:3] and page.has_more
            rest = store.list_observations(eid, ascending=True, limit=3, cursor=ids[2])
            assert [int(o.id) for o in rest.items] == ids[3:] and not rest.has_more
            assert rest.count == 5
            assert [int(o.id) for o in store.list_observations(eid).items] == ids[::-1]

        def test_limit_zero_counts_only(self, store: BaseStore, eid: int) -> None:
            """limit=0 returns no items but the total count."""
            store.create_observations(eid, [observed()] * 4)
            page = store.list_observations(eid, limit=0)
            assert page.items == [] and page.count == 4
            assert store.observation_count(eid) == 4
            empty = store.list_suggestions(eid, limit=0)
            assert empty.items == [] and empty.count == 0 and not empty.has_more

        def test_suggestions_by_ids(self, store: BaseStore, eid: int) -> None:
            """The ids filter keeps only the named suggestions of this experiment."""
            ids = [int(store.create_suggestion(eid, {"x": 0.1}).id) for _ in range(4)]
            page = store.list_suggestions(eid, ids=[ids[0], ids[2], 999])
            assert [int(s.id) for s in page.items] == [ids[2], ids[0]]
            assert page.count == 2

        def test_deleted_observations_hidden_unless_asked(self, store: BaseStore, eid: int) -> None:
            """Deleted observations leave counts and history but stay listable."""
            ids = [int(o.id) for o in store.create_observations(eid, [observed()] * 3)]
            store.delete_observation(eid, ids[1])
            assert store.observation_count(eid) == 2
            assert [int(o.id) for o in store.all_observations(eid)] == [ids[0], ids[2]]
            page = store.list_observations(eid, include_deleted=True)
            assert page.count == 3
            assert [o.deleted for o in page.items] == [False, True, False]

    class TestUpdates:
        """Updates replace the given fields and keep the rest."""

        def test_update_experiment(self, store: BaseStore, eid: int) -> None:
            """Named fields change, `updated` does not go back, other fields stay."""
            before = store.get_experiment(eid)
            after = store.update_experiment(
                eid,
                {
                    "name": "renamed",
                    "observation_budget": 30,
                    "metadata": None,
                    "metrics": [Metric(name="y", objective=Objective.MINIMIZE)],
                },
            )
            assert after.name == "renamed" and after.observation_budget == 30
            assert after.metadata is None
            assert after.metrics[0].objective is Objective.MINIMIZE
            assert after.updated >= before.updated and after.created == before.created
            assert after.parameters == before.parameters
            assert store.get_experiment(eid) == after

        def test_update_experiment_rejects_unknown_keys(self, store: BaseStore, eid: int) -> None:
            """A key outside EXPERIMENT_UPDATABLE is a programming error."""
            with pytest.raises(ValueError, match="type"):
                store.update_experiment(eid, {"type": "grid"})

        def test_update_observation(self, store: BaseStore, eid: int) -> None:
            """Values, failed and metadata can be replaced; None values become empty."""
            [obs] = store.create_observations(eid, [observed(value=2.0)])
            oid = int(obs.id)
            updated = store.update_observation(
                eid, oid, {"values": [MetricEvaluation(name="y", value=5.0)], "metadata": {"k": 1}}
            )
            assert updated.value == 5.0 and updated.metadata == {"k": 1}
            failed = store.update_observation(eid, oid, {"values": None, "failed": True})
            assert failed.values == [] and failed.failed
            assert store.get_observation(eid, oid) == failed

        def test_update_suggestion(self, store: BaseStore, eid: int) -> None:
            """Suggestion metadata is replaced, and None clears it."""
            sid = int(store.create_suggestion(eid, {"x": 0.1}, {"a": 1}).id)
            assert store.update_suggestion(eid, sid, {"b": "2"}).metadata == {"b": "2"}
            assert store.get_suggestion(eid, sid).metadata == {"b": "2"}
            store.update_suggestion(eid, sid, None)
            assert store.get_suggestion(eid, sid).metadata is None

    class TestSoftDeletes:
        """Deletes flag rows instead of removing them."""

        def test_delete_observations(self, store: BaseStore, eid: int) -> None:
            """Deleting all observations counts only those not deleted yet."""
            ids = [int(o.id) for o in store.create_observations(eid, [observed()] * 3)]
            store.delete_observation(eid, ids[0])
            assert store.delete_observations(eid) == 2
            assert store.observation_count(eid) == 0
            assert store.get_observation(eid, ids[2]).deleted

        def test_deleted_experiment_still_readable(self, store: BaseStore, eid: int) -> None:
            """A deleted experiment is still fetched, with state deleted."""
            store.update_experiment(eid, {"state": ExperimentState.DELETED})
            assert store.get_experiment(eid).state is ExperimentState.DELETED

    class TestListExperiments:
        """Experiment listings filter by state."""

        def test_state_filter(self, store: BaseStore) -> None:
            """active, deleted and all each see their own experiments, newest first."""
            ids = [int(store.create_experiment(new_experiment(str(i))).id) for i in range(3)]
            store.update_experiment(ids[1], {"state": "deleted"})
            assert [int(e.id) for e in store.list_experiments().items] == [ids[2], ids[0]]
            deleted = store.list_experiments(state="deleted")
            assert [int(e.id) for e in deleted.items] == [ids[1]] and deleted.count == 1
            everything = store.list_experiments(state="all", limit=2)
            assert [int(e.id) for e in everything.items] == [ids[2], ids[1]]
            assert everything.count == 3 and everything.has_more


class TestSqliteDurability:
    """SqliteStore keeps its data across reopening, versions its schema and maps errors."""

    def test_survives_reopen(self, tmp_path: Path) -> None:
        """Everything written is there after closing and reopening the file."""
        path = tmp_path / "s.db"
        store = SqliteStore(path)
        eid = int(store.create_experiment(new_experiment()).id)
        sid = int(store.create_suggestion(eid, {"x": 0.5}, {"run": "a"}).id)
        [obs] = store.create_observations(eid, [observed(sid, 4.0)])
        store.close()
        reopened = SqliteStore(path)
        try:
            assert reopened.get_experiment(eid).name == "exp"
            assert reopened.get_suggestion(eid, sid).state is SuggestionState.CLOSED
            assert reopened.get_observation(eid, int(obs.id)) == obs
            assert int(reopened.create_suggestion(eid, {"x": 0.1}).id) > sid
        finally:
            reopened.close()

    def test_schema_version_and_migrations(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A new file gets the current version; a newer migration runs once on reopen."""
        path = tmp_path / "s.db"
        store = SqliteStore(path)
        assert store.schema_version() == SCHEMA_VERSION
        eid = int(store.create_experiment(new_experiment()).id)
        store.close()
        extra = ("CREATE TABLE extra (id INTEGER PRIMARY KEY)",)
        monkeypatch.setattr(sqlite_schema, "_MIGRATIONS", (*sqlite_schema._MIGRATIONS, extra))
        monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
        for _ in range(2):  # the second open finds nothing to do
            migrated = SqliteStore(path)
            assert migrated.schema_version() == SCHEMA_VERSION + 1
            assert migrated.get_experiment(eid).name == "exp"
            migrated.close()
        with sqlite3.connect(path) as raw:
            tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
        assert "extra" in tables

    def test_v1_database_migrates_closed_flag(self, tmp_path: Path) -> None:
        """A version-1 file (no `closed` column) opens at the current version with the
        state of every suggestion carried over: open stays open, closed stays closed."""
        path = tmp_path / "v1.db"
        raw = sqlite3.connect(path)
        for statement in sqlite_schema._MIGRATIONS[0]:
            raw.execute(statement)
        raw.execute(
            "INSERT INTO experiments VALUES (1, 'e', 'offline', '[]', '[]', NULL, 1, 1, "
            "'[]', '[]', NULL, NULL, 'active', 0, 0)"
        )
        raw.execute("INSERT INTO suggestions VALUES (1, 1, '{\"x\": 0.1}', NULL, 0, 0)")
        raw.execute("INSERT INTO suggestions VALUES (2, 1, '{\"x\": 0.2}', NULL, 0, 0)")
        raw.execute(
            "INSERT INTO observations VALUES (1, 1, 1, '{\"x\": 0.1}', '[]', 1, NULL, 0, 0)"
        )
        raw.execute("PRAGMA user_version = 1")
        raw.commit()
        raw.close()
        store = SqliteStore(path)
        try:
            assert store.schema_version() == SCHEMA_VERSION >= 2
            assert store.get_suggestion(1, 1).state is SuggestionState.CLOSED
            assert [s.id for s in store.open_suggestions(1)] == ["2"]
            assert store.open_suggestion_count(1) == 1
        finally:
            store.close()

    def test_future_version_refused(self, tmp_path: Path) -> None:
        """A database written by newer code raises StoreError instead of being touched."""
        path = tmp_path / "s.db"
        SqliteStore(path).close()
        raw = sqlite3.connect(path)
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        raw.close()
        with pytest.raises(StoreError, match="newer"):
            SqliteStore(path)

    def test_corrupted_file_maps_to_store_error(self, tmp_path: Path) -> None:
        """A file that is not a database raises StoreError chained to sqlite3's error."""
        path = tmp_path / "s.db"
        path.write_bytes(b"definitely not sqlite " * 200)
        with pytest.raises(StoreError) as info:
            SqliteStore(path)
        assert isinstance(info.value.__cause__, sqlite3.DatabaseError)

    def test_locked_database_maps_to_store_error(self, tmp_path: Path) -> None:
        """A write that cannot get the lock raises StoreError and leaves the store usable."""
        path = tmp_path / "s.db"
        store = SqliteStore(path, busy_timeout_s=0.05)
        eid = int(store.create_experiment(new_experiment()).id)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError) as info:
                store.create_suggestion(eid, {"x": 0.1})
            assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert store.suggestion_count(eid) == 0
        store.create_suggestion(eid, {"x": 0.1})
        assert store.suggestion_count(eid) == 1
        store.close()

    def test_closed_store_raises_store_error(self, tmp_path: Path) -> None:
        """Using a closed store is a StoreError, not an AttributeError."""
        store = SqliteStore(tmp_path / "s.db")
        store.close()
        store.close()  # idempotent
        with pytest.raises(StoreError, match="closed"):
            store.get_experiment(1)

    def test_kill_9_loses_nothing_acknowledged(self, tmp_path: Path) -> None:
        """Steps:
        1. a child process opens the store and loops suggest + observe, printing the ids
           each call returned;
        2. after a few hundred acknowledged pairs the test SIGKILLs it mid-stream;
        3. the reopened database holds every acknowledged pair, closed, and is intact.
        """
        path = tmp_path / "killed.db"
        setup = SqliteStore(path)
        eid = int(setup.create_experiment(new_experiment()).id)
        setup.close()
        script = textwrap.dedent(
            """
            import sys
            from sigopt_service.models import MetricEvaluation
            from sigopt_service.sqlite_store import SqliteStore
            from sigopt_service.store import NewObservation

            store = SqliteStore(sys.argv[1])
            eid = int(sys.argv[2])
            i = 0
            while True:
                s = store.create_suggestion(eid, {"x": (i % 100) / 100})
                value = [MetricEvaluation(name="y", value=float(i))]
                [o] = store.create_observations(
                    eid, [NewObservation(suggestion=int(s.id), values=value)]
                )
                print(s.id, o.id, flush=True)
                i += 1
            """
        )
        child = subprocess.Popen(
            [sys.executable, "-c", script, str(path), str(eid)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
        )
        assert child.stdout is not None
        acknowledged: list[tuple[int, int]] = []
        try:
            while len(acknowledged) < 300:
                line = child.stdout.readline()
                assert line, f"child exited early with {child.poll()}"
                sid_text, oid_text = line.split()
                acknowledged.append((int(sid_text), int(oid_text)))
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
        # Lines already in the pipe were acknowledged too, before the kill.
        for line in child.stdout.read().splitlines():
            sid_text, oid_text = line.split()
            acknowledged.append((int(sid_text), int(oid_text)))
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL

        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        store = SqliteStore(path)
        try:
            for sid, oid in acknowledged:
                obs = store.get_observation(eid, oid)
                assert obs.suggestion == str(sid)
                assert store.get_suggestion(eid, sid).state is SuggestionState.CLOSED
            # At most the one pair in flight at the kill may exist beyond the acknowledged.
            count = store.observation_count(eid)
            assert len(acknowledged) <= count <= len(acknowledged) + 1
            assert len(store.open_suggestions(eid)) <= 1
        finally:
            store.close()
