"""Store contract, experiment listings (`ExperimentListing`): every store orders, filters
and pages alike."""

from __future__ import annotations

import pytest

from sigopt_service.store import BaseStore, ExperimentListing
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
        monkeypatch.setattr("sigopt_service.store.sqlite._store.now_s", lambda: later)
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
