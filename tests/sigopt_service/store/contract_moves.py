"""Part of the store contract suite: moving an observation with `update_observation`
(`{"suggestion": S}` or `{"assignments": {...}}`, sigopt-server's observation update) and
the suggestion states that follow from it. Mixed into `TestStoreContract`, so these run on
every store in STORE_MODES; a CachingStore must answer its counts and best right after."""

from __future__ import annotations

import pytest

from sigopt_service.errors import AlreadyObserved, UnknownSuggestion
from sigopt_service.models import MetricEvaluation, SuggestionState
from sigopt_service.store import BaseStore
from tests.sigopt_service.store.helpers import new_experiment, observed


def _state(store: BaseStore, eid: int, sid: int) -> SuggestionState:
    return store.get_suggestion(eid, sid).state


def _open_ids(store: BaseStore, eid: int) -> list[int]:
    return [int(s.id) for s in store.open_suggestions(eid)]


class ObservationMovesContract:
    class TestObservationMoves:
        """A move copies the new suggestion's assignments or drops the suggestion; the
        suggestion left is open again iff no other observation references it."""

        def test_onto_another_suggestion(self, store: BaseStore, eid: int) -> None:
            """The observation takes the suggestion and its assignments; the old one reopens."""
            s1 = int(store.create_suggestion(eid, {"x": 0.1}).id)
            s2 = int(store.create_suggestion(eid, {"x": 0.2}).id)
            [obs] = store.create_observations(eid, [observed(s1, 3.0)])
            assert (store.observation_count(eid), store.open_suggestion_count(eid)) == (1, 1)
            moved = store.update_observation(eid, int(obs.id), {"suggestion": s2})
            assert moved.suggestion == str(s2) and moved.assignments == {"x": 0.2}
            assert moved.value == 3.0 and moved.id == obs.id
            assert store.get_observation(eid, int(obs.id)) == moved
            assert _state(store, eid, s1) is SuggestionState.OPEN
            assert _state(store, eid, s2) is SuggestionState.CLOSED
            assert _open_ids(store, eid) == [s1]
            assert (store.observation_count(eid), store.open_suggestion_count(eid)) == (1, 1)
            assert [int(s.id) for s in store.list_suggestions(eid, open_only=True).items] == [s1]
            assert obs.suggestion == str(s1)  # the earlier snapshot is untouched

        def test_onto_its_own_suggestion(self, store: BaseStore, eid: int) -> None:
            """Naming the suggestion it already has changes nothing and is no duplicate."""
            s1 = int(store.create_suggestion(eid, {"x": 0.1}).id)
            [obs] = store.create_observations(eid, [observed(s1)])
            assert store.update_observation(eid, int(obs.id), {"suggestion": s1}) == obs
            assert _state(store, eid, s1) is SuggestionState.CLOSED

        def test_onto_an_observed_suggestion(self, store: BaseStore, eid: int) -> None:
            """One observation per suggestion: AlreadyObserved, and nothing of the update
            is stored; with allow_duplicates the move happens."""
            s1 = int(store.create_suggestion(eid, {"x": 0.1}).id)
            s2 = int(store.create_suggestion(eid, {"x": 0.2}).id)
            [o1, o2] = store.create_observations(eid, [observed(s1, 1.0), observed(s2, 2.0)])
            change = {"suggestion": s2, "values": [MetricEvaluation(name="y", value=9.0)]}
            with pytest.raises(AlreadyObserved) as raised:
                store.update_observation(eid, int(o1.id), change)
            assert raised.value.suggestion_id == s2 and not raised.value.in_batch
            assert store.get_observation(eid, int(o1.id)) == o1
            assert store.open_suggestion_count(eid) == 0
            moved = store.update_observation(eid, int(o1.id), change, allow_duplicates=True)
            assert moved.suggestion == str(s2) and moved.value == 9.0
            assert _open_ids(store, eid) == [s1]
            assert store.get_observation(eid, int(o2.id)) == o2

        def test_onto_unknown_deleted_or_foreign(self, store: BaseStore, eid: int) -> None:
            """A suggestion that is unknown, deleted or of another experiment is
            UnknownSuggestion with SigOpt's wording, and nothing changes."""
            s1 = int(store.create_suggestion(eid, {"x": 0.1}).id)
            gone = int(store.create_suggestion(eid, {"x": 0.2}).id)
            store.delete_suggestion(eid, gone)
            other = int(store.create_experiment(new_experiment("other")).id)
            foreign = int(store.create_suggestion(other, {"x": 0.3}).id)
            [obs] = store.create_observations(eid, [observed(s1)])
            for sid in (999, gone, foreign):
                with pytest.raises(UnknownSuggestion, match=f"^No suggestion: {sid} for "):
                    store.update_observation(eid, int(obs.id), {"suggestion": sid})
                assert store.get_observation(eid, int(obs.id)) == obs
            assert _state(store, eid, s1) is SuggestionState.CLOSED
            assert _state(store, other, foreign) is SuggestionState.OPEN

        def test_assignments_drop_the_suggestion(self, store: BaseStore, eid: int) -> None:
            """New assignments replace the suggestion's; the suggestion reopens."""
            s1 = int(store.create_suggestion(eid, {"x": 0.1}).id)
            [obs] = store.create_observations(eid, [observed(s1)])
            moved = store.update_observation(eid, int(obs.id), {"assignments": {"x": 0.7}})
            assert moved.suggestion is None and moved.assignments == {"x": 0.7}
            assert store.get_observation(eid, int(obs.id)) == moved
            assert _open_ids(store, eid) == [s1]
            assert store.open_suggestion_count(eid) == 1

        def test_from_assignments_onto_a_suggestion(self, store: BaseStore, eid: int) -> None:
            """An observation made from assignments may take a suggestion, closing it."""
            s1 = int(store.create_suggestion(eid, {"x": 0.1}).id)
            [obs] = store.create_observations(eid, [observed()])
            assert store.open_suggestion_count(eid) == 1
            moved = store.update_observation(eid, int(obs.id), {"suggestion": s1})
            assert moved.suggestion == str(s1) and moved.assignments == {"x": 0.1}
            assert store.open_suggestion_count(eid) == 0 and _open_ids(store, eid) == []

        def test_left_suggestion_stays_closed_while_referenced(
            self, store: BaseStore, eid: int
        ) -> None:
            """Another observation of the suggestion left, deleted or not, keeps it closed."""
            s1, s2, s3 = (int(store.create_suggestion(eid, {"x": 0.1}).id) for _ in "abc")
            [o1, o2, o3] = store.create_observations(
                eid, [observed(s1), observed(s1), observed(s2)], allow_duplicates=True
            )
            store.update_observation(eid, int(o1.id), {"suggestion": s3})
            assert _state(store, eid, s1) is SuggestionState.CLOSED
            store.create_observations(eid, [observed(s2)], allow_duplicates=True)
            store.delete_observation(eid, int(o3.id))
            store.update_observation(eid, int(o2.id), {"assignments": {"x": 0.5}})
            assert _state(store, eid, s1) is SuggestionState.OPEN
            assert _state(store, eid, s2) is SuggestionState.CLOSED
            assert _open_ids(store, eid) == [s1]

        def test_a_deleted_suggestion_left_stays_out(self, store: BaseStore, eid: int) -> None:
            """A deleted suggestion left behind is never open."""
            s1 = int(store.create_suggestion(eid, {"x": 0.1}).id)
            [obs] = store.create_observations(eid, [observed(s1)])
            store.delete_suggestion(eid, s1)
            store.update_observation(eid, int(obs.id), {"assignments": {"x": 0.5}})
            assert _open_ids(store, eid) == [] and store.open_suggestion_count(eid) == 0

        def test_both_keys_are_a_programming_error(self, store: BaseStore, eid: int) -> None:
            """`suggestion` and `assignments` together is the caller's bug: ValueError."""
            s1 = int(store.create_suggestion(eid, {"x": 0.1}).id)
            [obs] = store.create_observations(eid, [observed()])
            with pytest.raises(ValueError):
                store.update_observation(
                    eid, int(obs.id), {"suggestion": s1, "assignments": {"x": 0.2}}
                )
            assert store.open_suggestion_count(eid) == 1

        def test_best_and_counts_follow_moves(self, store: BaseStore, eid: int) -> None:
            """The best observation carries its new suggestion and assignments, and the
            counts follow, when read before and after each move (warm caches)."""
            s1 = int(store.create_suggestion(eid, {"x": 0.1}).id)
            s2 = int(store.create_suggestion(eid, {"x": 0.2}).id)
            [low, high] = store.create_observations(eid, [observed(value=1.0), observed(s1, 5.0)])
            assert store.best_observation(eid) == high
            assert (store.observation_count(eid), store.open_suggestion_count(eid)) == (2, 1)
            moved = store.update_observation(eid, int(high.id), {"suggestion": s2})
            assert store.best_observation(eid) == moved
            assert moved.assignments == {"x": 0.2}
            assert (store.observation_count(eid), store.open_suggestion_count(eid)) == (2, 1)
            moved = store.update_observation(eid, int(high.id), {"assignments": {"x": 0.9}})
            best = store.best_observation(eid)
            assert best == moved and best is not None and best.suggestion is None
            assert (store.observation_count(eid), store.open_suggestion_count(eid)) == (2, 2)
            store.update_observation(eid, int(low.id), {"suggestion": s1})
            assert store.open_suggestion_count(eid) == 1 and _open_ids(store, eid) == [s2]
