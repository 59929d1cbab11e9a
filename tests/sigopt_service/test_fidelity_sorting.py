"""Issue 15 item 7, through the official client on both stores: observations in every
order sigopt-server's `observations/detail.py` has (a metric's value, its stddev, a
parameter, the time, the id), paged both ways, with a missing value sorting as larger
than any; the experiment list's `after` paging and `development` filter
(`handlers/experiments/list_base.py`)."""

from __future__ import annotations

from typing import Any

import pytest
from sigopt import Connection
from sigopt.exception import ApiException

TWO_METRICS = dict(
    name="sorted",
    parameters=[
        dict(name="x", type="double", bounds=dict(min=0.0, max=1.0)),
        dict(name="c", type="categorical", categorical_values=["a", "b"]),
    ],
    metrics=[dict(name="acc", objective="maximize"), dict(name="loss", strategy="store")],
    observation_budget=10,
)
#: (x, c, acc, loss, acc's stddev); None: a failed observation.
ROWS: list[tuple[float, str, float, float, float] | None] = [
    (0.3, "b", 0.5, 3.0, 0.2),
    None,
    (0.1, "a", 0.9, 1.0, 0.1),
    (0.2, "b", 0.7, 2.0, 0.3),
]


pytestmark = pytest.mark.both_stores


@pytest.fixture
def sorted_eid(conn: Connection) -> str:
    """An experiment with ROWS observed in order (ids increase down the list)."""
    eid = str(conn.experiments().create(**TWO_METRICS).id)
    for row in ROWS:
        if row is None:
            conn.experiments(eid).observations().create(assignments=dict(x=0.5, c="a"), failed=True)
            continue
        x, c, acc, loss, sd = row
        conn.experiments(eid).observations().create(
            assignments=dict(x=x, c=c),
            values=[dict(name="acc", value=acc, value_stddev=sd), dict(name="loss", value=loss)],
        )
    return eid


def _xs(conn: Connection, eid: str, **query: Any) -> list[float]:
    return [
        o.assignments["x"]
        for o in conn.experiments(eid).observations().fetch(**query).iterate_pages()
    ]


class TestObservationOrders:
    """Each order, descending by default; `ascending` and `after` reverse it. The failed
    observation has no value: it sorts as larger than any (first, or last ascending)."""

    @pytest.mark.parametrize(
        ("sort", "descending"),
        [
            ("id", [0.2, 0.1, 0.5, 0.3]),
            ("timestamp", [0.2, 0.1, 0.5, 0.3]),
            ("value", [0.5, 0.1, 0.2, 0.3]),
            ("value-acc", [0.5, 0.1, 0.2, 0.3]),
            ("value-loss", [0.5, 0.3, 0.2, 0.1]),
            ("value_stddev", [0.5, 0.2, 0.3, 0.1]),
            ("value_stddev-loss", [0.2, 0.1, 0.5, 0.3]),  # none has one: by id
            ("parameter-x", [0.5, 0.3, 0.2, 0.1]),
            ("parameter-c", [0.2, 0.3, 0.1, 0.5]),
        ],
    )
    def test_order_both_ways_across_pages(
        self, conn: Connection, sorted_eid: str, sort: str, descending: list[float]
    ) -> None:
        assert _xs(conn, sorted_eid, sort=sort) == descending
        assert _xs(conn, sorted_eid, sort=sort, limit=1) == descending
        assert _xs(conn, sorted_eid, sort=sort, ascending=True, limit=3) == descending[::-1]
        page = conn.experiments(sorted_eid).observations().fetch(sort=sort, ascending=True, limit=2)
        assert page.count == 4
        after = (
            conn.experiments(sorted_eid)
            .observations()
            .fetch(sort=sort, after=page.paging.after, limit=1)
        )
        # `paging.after` names the page's first (smallest) one: after it, the larger ones.
        assert [o.assignments["x"] for o in after.iterate_pages()] == descending[::-1][1:]

    @pytest.mark.parametrize(("sort", "rest"), [("value", [0.2, 0.3]), ("parameter-x", [0.2, 0.1])])
    @pytest.mark.filterwarnings("ignore:The .data field only contains a single page")
    def test_paging_goes_on_past_a_deleted_last_one(
        self, conn: Connection, sorted_eid: str, sort: str, rest: list[float]
    ) -> None:
        """The next page starts where the last one ended even when the observation that
        ended it is deleted meanwhile (sigopt-server's markers hold its sort values)."""
        observations = conn.experiments(sorted_eid).observations()
        first = observations.fetch(sort=sort, limit=2)
        conn.experiments(sorted_eid).observations(first.data[-1].id).delete()
        after_it = observations.fetch(sort=sort, limit=2, before=first.paging.before)
        assert [o.assignments["x"] for o in after_it.data] == rest

    def test_deleted_ones_sorted_alone(self, conn: Connection, sorted_eid: str) -> None:
        live = list(conn.experiments(sorted_eid).observations().fetch(sort="id").iterate_pages())
        for o in live[:2]:
            conn.experiments(sorted_eid).observations(o.id).delete()
        deleted = conn.experiments(sorted_eid).observations().fetch(sort="value", deleted=True)
        assert [o.assignments["x"] for o in deleted.iterate_pages()] == [0.1, 0.2]
        assert deleted.count == 2
        assert _xs(conn, sorted_eid, sort="value") == [0.5, 0.3]

    @pytest.mark.parametrize(
        ("sort", "fragment"),
        [
            ("value-accuracy", "Invalid sort: value-accuracy"),
            ("parameter-lr", "Unknown parameter: lr"),
            ("task", "multitask"),
            ("name", "Invalid sort: name"),
            ("parameter-", "Invalid sort: parameter-"),
        ],
    )
    def test_unknown_sorts_are_a_400_naming_sort(
        self, conn: Connection, sorted_eid: str, sort: str, fragment: str
    ) -> None:
        with pytest.raises(ApiException) as raised:
            conn.experiments(sorted_eid).observations().fetch(sort=sort)
        assert raised.value.status_code == 400
        assert fragment in str(raised.value)
        assert raised.value.to_json()["field"] == "sort"


EXPERIMENT = dict(
    parameters=[dict(name="x", type="double", bounds=dict(min=0.0, max=1.0))],
    observation_budget=10,
)


class TestExperimentListPaging:
    """`after` pages the list oldest first, following `paging.after`, as on observations;
    `development` keeps one kind of experiment."""

    def test_after_pages_forward(self, conn: Connection) -> None:
        for name in "abcde":
            conn.experiments().create(name=name, **EXPERIMENT)
        first = conn.experiments().fetch(ascending=True, limit=1)
        marker = first.paging.after  # names the oldest, "a"
        names = [e.name for e in conn.experiments().fetch(after=marker, limit=2).iterate_pages()]
        assert names == list("bcde")
        # By `updated` (equal here, so by id): the same experiments after "a".
        recent = conn.experiments().fetch(sort="recent", after=marker, limit=3)
        assert [e.name for e in recent.iterate_pages()] == list("bcde")

    def test_development_is_kept_and_filters(self, conn: Connection) -> None:
        dev = conn.experiments().create(name="dev", development=True, **EXPERIMENT)
        conn.experiments().create(name="prod", **EXPERIMENT)
        assert dev.development is True
        assert conn.experiments(dev.id).fetch().development is True
        names = {
            flag: [e.name for e in conn.experiments().fetch(development=flag).iterate_pages()]
            for flag in (True, False)
        }
        assert names == {True: ["dev"], False: ["prod"]}
        assert [e.name for e in conn.experiments().fetch().iterate_pages()] == ["prod", "dev"]
