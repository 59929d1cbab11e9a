"""Part of the store contract suite: queued suggestions (sigopt-server's
`suggestions_queued`) and the `development` flag. Mixed into `TestStoreContract`, so these
run on every store in STORE_MODES; a CachingStore must answer its counts right after."""

from __future__ import annotations

import pytest

from sigopt_service.errors import RecordNotFound
from sigopt_service.models import Assignments, SuggestionState
from sigopt_service.store import BaseStore, ExperimentListing
from tests.sigopt_service.store.helpers import new_experiment


def _waiting(
    store: BaseStore,
    eid: int,
    *,
    ascending: bool = False,
    limit: int = 100,
    cursor: int | None = None,
) -> list[int]:
    page = store.list_queued_suggestions(eid, ascending=ascending, limit=limit, cursor=cursor)
    return [int(q.id) for q in page.items]


class QueuedSuggestionsContract:
    class TestQueuedSuggestions:
        """Entries wait, newest first in lists, until served or deleted; serving stores an
        open suggestion and consumes the entry in one step."""

        def test_queue_fetch_and_list(self, store: BaseStore, eid: int) -> None:
            """An entry keeps its assignments; lists page newest first, or oldest first."""
            made = [store.create_queued_suggestion(eid, {"x": x}) for x in (0.1, 0.2, 0.3)]
            first = made[0]
            assert first.experiment == str(eid) and first.assignments == {"x": 0.1}
            assert first.created > 0 and first.object == "queued_suggestion"
            assert store.get_queued_suggestion(eid, int(first.id)) == first
            ids = [int(q.id) for q in made]
            assert ids == sorted(ids)
            assert _waiting(store, eid) == ids[::-1]
            assert _waiting(store, eid, limit=1, cursor=ids[2]) == [ids[1]]
            assert _waiting(store, eid, ascending=True, limit=2) == ids[:2]
            page = store.list_queued_suggestions(eid, limit=0)
            assert (page.items, page.count, page.has_more) == ([], 3, True)
            assert store.queued_suggestion_count(eid) == 3
            oldest = store.oldest_queued_suggestion(eid)
            assert oldest is not None and oldest.id == first.id

        def test_serve_consumes_the_entry(self, store: BaseStore, eid: int) -> None:
            """Served: an open suggestion with the entry's assignments and the caller's
            metadata, counted as open; the entry is gone for every read."""
            queued = store.create_queued_suggestion(eid, {"x": 0.7})
            qid = int(queued.id)
            assert store.open_suggestion_count(eid) == 0
            served = store.serve_queued_suggestion(eid, qid, {"run": "r"})
            assert served.assignments == {"x": 0.7} and served.metadata == {"run": "r"}
            assert served.state is SuggestionState.OPEN
            assert store.get_suggestion(eid, int(served.id)) == served
            assert [s.id for s in store.open_suggestions(eid)] == [served.id]
            assert store.open_suggestion_count(eid) == 1
            assert store.suggestion_count(eid) == 1
            assert store.queued_suggestion_count(eid) == 0
            assert store.oldest_queued_suggestion(eid) is None
            assert _waiting(store, eid) == []
            for gone in (
                lambda: store.get_queued_suggestion(eid, qid),
                lambda: store.delete_queued_suggestion(eid, qid),
                lambda: store.serve_queued_suggestion(eid, qid),
            ):
                with pytest.raises(RecordNotFound, match=f"No QueuedSuggestion {qid} for"):
                    gone()
            assert store.suggestion_count(eid) == 1  # the failed serve stored nothing

        def test_delete_takes_it_out_of_the_queue(self, store: BaseStore, eid: int) -> None:
            """A deleted entry is gone; the others wait on, and ids are never reused."""
            a, b = (int(store.create_queued_suggestion(eid, {"x": x}).id) for x in (0.1, 0.2))
            store.delete_queued_suggestion(eid, a)
            assert _waiting(store, eid) == [b]
            assert store.queued_suggestion_count(eid) == 1
            with pytest.raises(RecordNotFound):
                store.get_queued_suggestion(eid, a)
            assert int(store.create_queued_suggestion(eid, {"x": 0.3}).id) > b

        def test_another_experiments_entry_is_missing(self, store: BaseStore, eid: int) -> None:
            """An entry of another experiment, or of none, counts as missing."""
            other = int(store.create_experiment(new_experiment("other")).id)
            qid = int(store.create_queued_suggestion(other, {"x": 0.5}).id)
            with pytest.raises(RecordNotFound, match=f"No QueuedSuggestion {qid} for experiment"):
                store.get_queued_suggestion(eid, qid)
            with pytest.raises(RecordNotFound):
                store.serve_queued_suggestion(eid, qid)
            with pytest.raises(RecordNotFound, match="No experiment 999"):
                store.create_queued_suggestion(999, {"x": 0.5})
            with pytest.raises(RecordNotFound, match="No experiment 999"):
                store.list_queued_suggestions(999)
            assert store.queued_suggestion_count(other) == 1
            assert store.queued_suggestion_count(eid) == 0

        def test_snapshots(self, store: BaseStore, eid: int) -> None:
            """A returned entry is the caller's: mutating it changes nothing stored."""
            assignments: Assignments = {"x": 0.4}
            queued = store.create_queued_suggestion(eid, assignments)
            assignments["x"] = 9.0
            queued.assignments["x"] = 8.0
            assert store.get_queued_suggestion(eid, int(queued.id)).assignments == {"x": 0.4}
            listed = store.list_queued_suggestions(eid).items[0]
            listed.assignments["x"] = 7.0
            served = store.serve_queued_suggestion(eid, int(queued.id))
            assert served.assignments == {"x": 0.4}

    class TestDevelopment:
        """`development` is kept as created, and a listing can keep either kind only."""

        def test_kept_and_filtered(self, store: BaseStore) -> None:
            dev = store.create_experiment(
                new_experiment("dev").model_copy(update={"development": True})
            )
            prod = store.create_experiment(new_experiment("prod"))
            assert dev.development and not prod.development
            assert store.get_experiment(int(dev.id)).development
            assert store.update_experiment(int(dev.id), {"name": "dev2"}).development

            def names(development: bool | None) -> list[str]:
                listing = ExperimentListing(development=development)
                return [e.name for e in store.list_experiments(listing=listing).items]

            assert names(None) == ["prod", "dev2"]
            assert names(True) == ["dev2"]
            assert names(False) == ["prod"]
