"""Store contract, listings: experiments (`ExperimentListing`) and observations in an
`ObservationOrder`; every store orders, filters and pages alike."""

from __future__ import annotations

from typing import Any

import pytest

from sigopt_service.models import Metric, MetricEvaluation, Objective
from sigopt_service.store import BaseStore, ExperimentListing, NewObservation, ObservationOrder
from tests.sigopt_service.store.helpers import new_experiment


def _ids(store: BaseStore, listing: ExperimentListing, limit: int = 2) -> list[int]:
    """Every page, followed by its last id as the next cursor."""
    ids: list[int] = []
    cursor = None
    while True:
        page = store.list_experiments(state="all", listing=listing, limit=limit, cursor=cursor)
        ids += [int(e.id) for e in page.items]
        if not page.has_more:
            return ids
        cursor = ids[-1]


class TestListingContract:
    """Order by id or by `updated`, either direction; search and creation bounds filter."""

    def test_orders_and_pages(self, store: BaseStore, monkeypatch: pytest.MonkeyPatch) -> None:
        made = [int(store.create_experiment(new_experiment(n)).id) for n in "abcd"]
        assert _ids(store, ExperimentListing()) == made[::-1]
        assert _ids(store, ExperimentListing(ascending=True)) == made
        # Equal `updated` (the same second) falls back to the id.
        assert _ids(store, ExperimentListing(sort="recent")) == made[::-1]
        later = store.get_experiment(made[3]).updated + 10
        monkeypatch.setattr("sigopt_service.store.memory.now_s", lambda: later)
        monkeypatch.setattr("sigopt_service.store.sql._store.now_s", lambda: later)
        store.update_experiment(made[1], {"name": "b2"})
        assert _ids(store, ExperimentListing(sort="recent")) == [made[1], made[3], made[2], made[0]]
        recent_up = ExperimentListing(sort="recent", ascending=True)
        assert _ids(store, recent_up, limit=1) == [made[0], made[2], made[3], made[1]]

    def test_an_unknown_cursor_under_recent_ends_the_list(self, store: BaseStore) -> None:
        store.create_experiment(new_experiment())
        page = store.list_experiments(listing=ExperimentListing(sort="recent"), cursor=999)
        assert page.items == [] and not page.has_more and page.count == 1

    def test_search_and_created_filter_and_count(self, store: BaseStore) -> None:
        for name in ("ResNet", "resnet-2", "MLP", "50%_off"):
            store.create_experiment(new_experiment(name))
        found = store.list_experiments(listing=ExperimentListing(search="  RESNET "))
        assert sorted(e.name for e in found.items) == ["ResNet", "resnet-2"]
        assert found.count == 2
        assert [
            e.name for e in store.list_experiments(listing=ExperimentListing(search="%_")).items
        ] == ["50%_off"]
        created = store.get_experiment(1).created
        assert store.list_experiments(listing=ExperimentListing(created_before=created)).count == 0
        assert store.list_experiments(listing=ExperimentListing(created_from=created)).count == 4


def _observe(store: BaseStore, eid: int, rows: list[tuple[Any, ...]]) -> list[int]:
    """One observation per row (x, y's value, y's stddev, z's value); a None x leaves the
    parameter out, a None value the metric; `failed` where neither metric is given."""
    made = []
    for x, y, sd, z in rows:
        values = [MetricEvaluation(name="y", value=y, value_stddev=sd)] if y is not None else []
        values += [MetricEvaluation(name="z", value=z)] if z is not None else []
        new = NewObservation(
            assignments={} if x is None else {"x": x}, values=values, failed=not values
        )
        made += [int(o.id) for o in store.create_observations(eid, [new])]
    return made


#: Ties (x 0.5 twice, y 2.0 twice), missing values, a failure, negative numbers.
ROWS: list[tuple[Any, ...]] = [
    (0.5, 2.0, 0.1, -1.0),
    (0.25, None, None, 3.0),
    (None, 2.0, None, None),
    (0.5, -4.0, 0.3, 0.0),
    (0.75, None, None, None),
    (0.0, 7.5, 0.2, 1.0),
]
ORDERS = [
    ObservationOrder(field, name, ascending)
    for field, name in [
        ("id", None),
        ("timestamp", None),
        ("value", "y"),
        ("value", "z"),
        ("value_stddev", "y"),
        ("parameter", "x"),
        ("parameter", "absent"),
    ]
    for ascending in (False, True)
]


def _order_id(order: ObservationOrder) -> str:
    return f"{order.field}-{order.name}-{'asc' if order.ascending else 'desc'}"


class TestObservationOrderContract:
    """Every store lists observations in `ObservationOrder` as its key says (a missing
    value larger than any, ids breaking ties), page by page, and only the deleted ones
    when asked: SQLite's SQL and the in-memory sort agree."""

    @pytest.mark.parametrize("order", ORDERS, ids=_order_id)
    def test_pages_follow_the_key(
        self, store: BaseStore, eid: int, order: ObservationOrder
    ) -> None:
        _observe(store, eid, ROWS)
        history = store.all_observations(eid)
        expected = [int(o.id) for o in sorted(history, key=order.key, reverse=not order.ascending)]
        seen: list[int] = []
        cursor = None
        while True:
            page = store.list_sorted_observations(eid, order, limit=2, cursor=cursor)
            assert page.count == len(ROWS)
            seen += [int(o.id) for o in page.items]
            if not page.has_more:
                break
            cursor = seen[-1]
        assert seen == expected
        whole = store.list_sorted_observations(eid, order, limit=100).items
        assert whole == sorted(history, key=order.key, reverse=not order.ascending)

    def test_missing_values_sort_largest(self, store: BaseStore, eid: int) -> None:
        made = _observe(store, eid, ROWS)
        by_y = store.list_sorted_observations(eid, ObservationOrder("value", "y")).items
        # Descending: the two without y first (the newer first), 7.5, the 2.0 tie (the
        # newer first), -4.0.
        assert [int(o.id) for o in by_y] == [made[i] for i in (4, 1, 5, 2, 0, 3)]

    def test_deleted_only_and_unknown_cursor(self, store: BaseStore, eid: int) -> None:
        made = _observe(store, eid, ROWS)
        for oid in made[:2]:
            store.delete_observation(eid, oid)
        order = ObservationOrder("value", "z", ascending=True)
        deleted = store.list_sorted_observations(eid, order, deleted_only=True)
        assert ([int(o.id) for o in deleted.items], deleted.count) == ([made[0], made[1]], 2)
        live = store.list_sorted_observations(eid, order)
        assert live.count == 4 and made[0] not in [int(o.id) for o in live.items]
        # A cursor naming a deleted observation (the last of a page, deleted since): the
        # page goes on from where it sorts, z = -1.0, then z = 3.0.
        after_gone = store.list_sorted_observations(eid, order, cursor=made[0])
        assert [int(o.id) for o in after_gone.items] == [made[3], made[5], made[2], made[4]]
        after_gone = store.list_sorted_observations(eid, order, cursor=made[1])
        assert [int(o.id) for o in after_gone.items] == [made[2], made[4]]
        # A cursor naming no observation of the experiment: nothing follows.
        unknown = store.list_sorted_observations(eid, order, cursor=max(made) + 100)
        assert (unknown.items, unknown.has_more, unknown.count) == ([], False, 4)

    def test_an_unnamed_metric(self, store: BaseStore) -> None:
        experiment = new_experiment(metrics=[Metric(objective=Objective.MINIMIZE)])
        eid = int(store.create_experiment(experiment).id)
        for value in (3.0, 1.0, 2.0):
            store.create_observations(
                eid,
                [NewObservation(assignments={"x": 0.1}, values=[MetricEvaluation(value=value)])],
            )
        order = ObservationOrder("value", None, ascending=True)
        assert [o.value for o in store.list_sorted_observations(eid, order).items] == [
            1.0,
            2.0,
            3.0,
        ]
