"""The store contract (`sigopt_service/store/base.py` docstring), run against every store
in STORE_MODES, the caching wrapper around each real store included."""

from __future__ import annotations

import pytest

from sigopt_service.errors import (
    AlreadyObserved,
    RecordNotFound,
    UnknownSuggestion,
)
from sigopt_service.models import (
    Assignments,
    ExperimentState,
    Metric,
    MetricEvaluation,
    Objective,
    SuggestionState,
)
from sigopt_service.store import BaseStore
from tests.sigopt_service.store.contract_moves import ObservationMovesContract
from tests.sigopt_service.store.contract_queue import QueuedSuggestionsContract
from tests.sigopt_service.store.contract_views import DerivedViewsContract
from tests.sigopt_service.store.helpers import new_experiment, observed


class TestStoreContract(DerivedViewsContract, ObservationMovesContract, QueuedSuggestionsContract):
    """Every store keeps the contract of `BaseStore` (the derived views and errors as data
    are in `contract_views.py`, observation moves in `contract_moves.py`, queued
    suggestions and `development` in `contract_queue.py`)."""

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
        """Missing ids raise RecordNotFound with SigOpt's messages, other experiments included."""

        def test_missing_experiment(self, store: BaseStore) -> None:
            """Every experiment-scoped call names the missing experiment."""
            with pytest.raises(RecordNotFound, match=r"^No experiment 7$"):
                store.get_experiment(7)
            with pytest.raises(RecordNotFound, match=r"^No experiment 7$"):
                store.create_suggestion(7, {"x": 0.1})
            with pytest.raises(RecordNotFound, match=r"^No experiment 7$"):
                store.create_observations(7, [observed()])
            with pytest.raises(RecordNotFound, match=r"^No experiment 7$"):
                store.list_observations(7)
            with pytest.raises(RecordNotFound, match=r"^No experiment 7$"):
                store.update_experiment(7, {"name": "n"})

        def test_missing_suggestion(self, store: BaseStore) -> None:
            """An unknown suggestion and one of another experiment are both missing."""
            for _ in range(7):
                store.create_experiment(new_experiment())
            other = store.create_suggestion(1, {"x": 0.1})
            for _ in range(int(other.id), 5):
                store.create_suggestion(1, {"x": 0.1})
            message = r"^No suggestion 5 for experiment 7$"
            with pytest.raises(RecordNotFound, match=message):
                store.get_suggestion(7, 5)
            with pytest.raises(RecordNotFound, match=message):
                store.update_suggestion(7, 5, None)
            with pytest.raises(RecordNotFound, match=message):
                store.delete_suggestion(7, 5)
            assert store.get_suggestion(1, 5).id == "5"

        def test_missing_observation(self, store: BaseStore) -> None:
            """An unknown observation and one of another experiment are both missing."""
            for _ in range(7):
                store.create_experiment(new_experiment())
            store.create_observations(1, [observed()] * 9)
            message = r"^No observation 9 for experiment 7$"
            with pytest.raises(RecordNotFound, match=message):
                store.get_observation(7, 9)
            with pytest.raises(RecordNotFound, match=message):
                store.update_observation(7, 9, {"failed": True})
            with pytest.raises(RecordNotFound, match=message):
                store.delete_observation(7, 9)
            with pytest.raises(RecordNotFound, match=r"^No observation 10 for experiment 1$"):
                store.get_observation(1, 10)

    class TestObservationSuggestionReference:
        """An observation naming a bad suggestion raises UnknownSuggestion and stores nothing."""

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
            with pytest.raises(UnknownSuggestion, match=rf"^No suggestion: {bad} for experiment: "):
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
            with pytest.raises(AlreadyObserved, match="observed twice in this request"):
                store.create_observations(eid, [observed(other), observed(sid), observed(sid)])
            assert store.observation_count(eid) == 0
            store.create_observations(eid, [observed(sid)])
            with pytest.raises(
                AlreadyObserved, match=rf"^Suggestion {sid} already has an observation"
            ):
                store.create_observations(eid, [observed(other), observed(sid)])
            assert store.observation_count(eid) == 1
            assert store.get_suggestion(eid, other).state is SuggestionState.OPEN

        def test_dry_run_checks_and_stores_nothing(self, store: BaseStore, eid: int) -> None:
            """A dry run raises what a real call would, and otherwise stores nothing."""
            sid = int(store.create_suggestion(eid, {"x": 0.1}).id)
            assert store.create_observations(eid, [observed(sid)], dry_run=True) == []
            assert store.observation_count(eid) == 0
            assert store.get_suggestion(eid, sid).state is SuggestionState.OPEN
            with pytest.raises(UnknownSuggestion, match="No suggestion: 999"):
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
            only = store.list_observations(eid, deleted_only=True)
            assert [int(o.id) for o in only.items] == [ids[1]] and only.count == 1

        def test_deleted_only_suggestions(self, store: BaseStore, eid: int) -> None:
            """`deleted_only` (SigOpt's `deleted=true`) lists the deleted ones only."""
            _, s2 = (int(store.create_suggestion(eid, {"x": 0.1}).id) for _ in range(2))
            store.delete_suggestion(eid, s2)
            only = store.list_suggestions(eid, deleted_only=True)
            assert [int(s.id) for s in only.items] == [s2] and only.count == 1
            assert store.list_suggestions(eid, open_only=True, deleted_only=True).count == 1

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
