"""Part of the store contract suite: the derived views every store answers (counts, the
best observation) and errors as data. Mixed into `TestStoreContract`, so these run on every
store in STORE_MODES; a CachingStore answers them from its caches."""

from __future__ import annotations

import pytest

from sigopt_service.errors import (
    AlreadyObserved,
    ApiError,
    RecordNotFound,
    StoreError,
    UnknownSuggestion,
)
from sigopt_service.models import Metric, MetricEvaluation, MetricStrategy, Objective
from sigopt_service.store import BaseStore
from tests.sigopt_service.store.helpers import new_experiment, observed


class DerivedViewsContract:
    class TestCounts:
        """observation_count and open_suggestion_count follow every kind of write."""

        def test_counts_follow_writes(self, store: BaseStore, eid: int) -> None:
            """Each write moves the two counts exactly as the contract's states say."""

            def counts() -> tuple[int, int]:
                return store.observation_count(eid), store.open_suggestion_count(eid)

            assert counts() == (0, 0)
            s1, s2, s3, s4 = (int(store.create_suggestion(eid, {"x": 0.1}).id) for _ in "abcd")
            assert counts() == (0, 4)
            store.create_observations(eid, [observed(s1)], dry_run=True)
            assert counts() == (0, 4)
            store.create_observations(eid, [observed(s1), observed()])
            assert counts() == (2, 3)
            store.create_observations(eid, [observed(s1), observed(s2)], allow_duplicates=True)
            assert counts() == (4, 2)
            store.delete_suggestion(eid, s3)
            assert counts() == (4, 1)
            [obs] = store.create_observations(eid, [observed(s4)])
            store.delete_observation(eid, int(obs.id))
            assert counts() == (4, 0)
            store.create_suggestion(eid, {"x": 0.2})
            assert store.delete_suggestions(eid, open_only=True) == 1
            assert store.delete_observations(eid) == 4
            assert counts() == (0, 0)

        def test_failed_batch_counts_nothing(self, store: BaseStore, eid: int) -> None:
            """A refused batch leaves both counts as they were."""
            sid = int(store.create_suggestion(eid, {"x": 0.1}).id)
            assert (store.observation_count(eid), store.open_suggestion_count(eid)) == (0, 1)
            with pytest.raises(UnknownSuggestion):
                store.create_observations(eid, [observed(sid), observed(999)])
            assert (store.observation_count(eid), store.open_suggestion_count(eid)) == (0, 1)

    class TestBestObservation:
        """best_observation is the best of the history for one optimized metric, else None."""

        def test_best_follows_writes(self, store: BaseStore, eid: int) -> None:
            """New, updated and deleted observations and a changed objective all count."""
            assert store.best_observation(eid) is None
            [o1, o2] = store.create_observations(eid, [observed(value=2.0), observed(value=5.0)])
            assert store.best_observation(eid) == o2
            # A tie goes to the older one; a failed observation never counts.
            store.create_observations(eid, [observed(value=5.0), observed(failed=True)])
            assert store.best_observation(eid) == o2
            [o5] = store.create_observations(eid, [observed(value=9.0)])
            assert store.best_observation(eid) == o5
            worse = store.update_observation(
                eid, int(o5.id), {"values": [MetricEvaluation(name="y", value=1.0)]}
            )
            assert store.best_observation(eid) == o2
            store.delete_observation(eid, int(o2.id))
            assert store.best_observation(eid) == store.get_observation(eid, int(o2.id) + 1)
            minimize = [Metric(name="y", objective=Objective.MINIMIZE)]
            store.update_experiment(eid, {"metrics": minimize})
            assert store.best_observation(eid) == worse
            store.delete_observations(eid)
            assert store.best_observation(eid) is None
            assert o1.value == 2.0  # untouched snapshot

        def test_none_with_several_optimized_metrics(self, store: BaseStore) -> None:
            """Two optimized metrics have a Pareto front, not one best observation."""
            metrics = [Metric(name="y"), Metric(name="z")]
            eid = int(store.create_experiment(new_experiment(metrics=metrics)).id)
            values = [MetricEvaluation(name="y", value=1.0), MetricEvaluation(name="z", value=1.0)]
            store.create_observations(eid, [observed().model_copy(update={"values": values})])
            assert store.best_observation(eid) is None

        def test_threshold_of_a_constraint_metric(self, store: BaseStore) -> None:
            """An observation missing a constraint's threshold is never best."""
            metrics = [
                Metric(name="y"),
                Metric(name="c", strategy=MetricStrategy.CONSTRAINT, threshold=0.5),
            ]
            eid = int(store.create_experiment(new_experiment(metrics=metrics)).id)

            def with_c(y: float, c: float) -> list[MetricEvaluation]:
                return [MetricEvaluation(name="y", value=y), MetricEvaluation(name="c", value=c)]

            batch = [observed().model_copy(update={"values": with_c(9.0, 0.1)})]
            batch.append(observed().model_copy(update={"values": with_c(2.0, 0.9)}))
            created = store.create_observations(eid, batch)
            assert store.best_observation(eid) == created[1]

        def test_snapshot_and_missing(self, store: BaseStore, eid: int) -> None:
            """The result is the caller's to mutate; a missing experiment is RecordNotFound."""
            store.create_observations(eid, [observed(value=3.0)])
            best = store.best_observation(eid)
            assert best is not None
            best.assignments["x"] = 0.99
            assert best.metadata is None
            assert store.best_observation(eid) == store.all_observations(eid)[0]
            with pytest.raises(RecordNotFound, match=r"^No experiment 99$"):
                store.best_observation(99)

    class TestErrorsAreData:
        """Store errors carry the ids as attributes and no HTTP status."""

        def test_attributes(self, store: BaseStore, eid: int) -> None:
            """Each error names what it is about; none is an ApiError."""
            with pytest.raises(RecordNotFound) as missing:
                store.get_suggestion(eid, 42)
            assert (missing.value.kind, missing.value.record_id) == ("suggestion", 42)
            assert missing.value.experiment_id == eid
            with pytest.raises(UnknownSuggestion) as unknown:
                store.create_observations(eid, [observed(42)])
            assert (unknown.value.suggestion_id, unknown.value.experiment_id) == (42, eid)
            sid = int(store.create_suggestion(eid, {"x": 0.1}).id)
            with pytest.raises(AlreadyObserved) as twice:
                store.create_observations(eid, [observed(sid), observed(sid)])
            assert twice.value.in_batch and twice.value.suggestion_id == sid
            store.create_observations(eid, [observed(sid)])
            with pytest.raises(AlreadyObserved) as again:
                store.create_observations(eid, [observed(sid)])
            assert not again.value.in_batch
            for error in (missing.value, unknown.value, twice.value, again.value):
                assert isinstance(error, StoreError) and not isinstance(error, ApiError)
