"""Issue 18, through the official client: the experiment list's query as sigopt-server's
`handlers/experiments/list_base.py` reads it (`sort`, `ascending`, `search`, periods,
`user`/`development`), and a client's experiments (`/v1/clients/{id}/experiments`, sigopt-
server's `ClientsExperimentsHandler` / `ClientsExperimentsCreateHandler`)."""

from __future__ import annotations

import itertools

import pytest
from sigopt import Connection
from sigopt.exception import ApiException

# The official client (or the coordinator) end to end, on SQLite and on PostgreSQL.
pytestmark = pytest.mark.postgres_too

EXPERIMENT = dict(
    parameters=[dict(name="x", type="double", bounds=dict(min=0.0, max=1.0))],
    metrics=[dict(name="m", objective="maximize")],
    observation_budget=10,
)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every stored timestamp one second after the one before, so `updated` orders."""
    ticks = itertools.count(1_700_000_000)
    monkeypatch.setattr("sigopt_service.store.sql._store.now_s", lambda: next(ticks))


def _names(conn: Connection, **query: object) -> list[str]:
    return [e.name for e in conn.experiments().fetch(**query).iterate_pages()]


class TestExperimentListOrder:
    """`sort` (`id`, `recent`) and `ascending` order the list; other sorts are a 400."""

    def test_ascending_lists_oldest_first_across_pages(self, conn: Connection) -> None:
        for name in "abcde":
            conn.experiments().create(name=name, **EXPERIMENT)
        assert _names(conn) == list("edcba")
        assert _names(conn, ascending=True, limit=2) == list("abcde")
        assert _names(conn, ascending=False, limit=2) == list("edcba")

    def test_recent_lists_the_last_updated_first(self, conn: Connection, clock: None) -> None:
        ids = {n: conn.experiments().create(name=n, **EXPERIMENT).id for n in "abcd"}
        conn.experiments(ids["b"]).update(metadata={"touched": 1})
        conn.experiments(ids["a"]).update(name="a")
        assert _names(conn, sort="recent", limit=3) == ["a", "b", "d", "c"]
        assert _names(conn, sort="recent", ascending=True, limit=1) == ["c", "d", "b", "a"]
        assert _names(conn, sort="id") == ["d", "c", "b", "a"]

    def test_an_unknown_sort_is_refused(self, conn: Connection) -> None:
        with pytest.raises(ApiException) as raised:
            conn.experiments().fetch(sort="name")
        assert raised.value.status_code == 400
        assert "Invalid sort: name" in str(raised.value)

    def test_a_non_boolean_ascending_is_refused(self, conn: Connection) -> None:
        with pytest.raises(ApiException) as raised:
            conn.experiments().fetch(ascending="up")
        assert raised.value.status_code == 400


class TestExperimentListFilters:
    """`search` matches names; `period_*` bound `created`; `user` names experiments this
    service never has; `development` keeps development experiments, or the others."""

    def test_search_matches_part_of_the_name_whatever_its_case(self, conn: Connection) -> None:
        for name in ("ResNet lr", "resnet depth", "mlp"):
            conn.experiments().create(name=name, **EXPERIMENT)
        assert _names(conn, search=" RESNET ") == ["resnet depth", "ResNet lr"]
        assert conn.experiments().fetch(search="resnet").count == 2
        assert _names(conn, search="100%") == []

    def test_period_bounds_the_creation_time(self, conn: Connection, clock: None) -> None:
        created = [conn.experiments().create(name=n, **EXPERIMENT).created for n in "abc"]
        assert _names(conn, period_start=created[1]) == ["c", "b"]
        assert _names(conn, period_end=created[1]) == ["a"]
        with pytest.raises(ApiException) as raised:
            conn.experiments().fetch(period_start=created[1], period_end=created[0])
        assert raised.value.status_code == 400
        assert "end timestamp cannot be before start timestamp" in str(raised.value)

    def test_search_longer_than_the_documented_limit_is_refused(self, conn: Connection) -> None:
        """The OpenAPI document says 200 characters at most; the fuzz holds us to it."""
        conn.experiments().create(name="a", **EXPERIMENT)
        assert _names(conn, search="a" * 200) == []
        with pytest.raises(ApiException) as raised:
            conn.experiments().fetch(search="a" * 201)
        assert raised.value.status_code == 400
        assert "`search`" in str(raised.value)

    def test_user_finds_nothing_here_and_development_filters(self, conn: Connection) -> None:
        conn.experiments().create(name="a", **EXPERIMENT)
        assert _names(conn, user=5) == []
        assert _names(conn, development=True) == []
        assert _names(conn, development=False, include_ai=False) == ["a"]
        conn.experiments().create(name="d", development=True, **EXPERIMENT)
        assert _names(conn, development=True) == ["d"]


class TestClientExperiments:
    """`conn.clients("1").experiments()` creates and lists, as SigOpt's examples do; "1" is
    the one implicit client, named by every experiment's `client`."""

    def test_create_and_list_through_the_client(self, conn: Connection) -> None:
        made = conn.clients("1").experiments().create(name="via client", **EXPERIMENT)
        assert made.client == "1"
        assert conn.experiments(made.id).fetch().name == "via client"
        conn.experiments().create(name="plain", **EXPERIMENT)
        listed = conn.clients("1").experiments().fetch(ascending=True)
        assert [e.name for e in listed.iterate_pages()] == ["via client", "plain"]
        assert all(e.client == "1" for e in conn.experiments().fetch().iterate_pages())

    def test_another_client_is_not_found(self, conn: Connection) -> None:
        with pytest.raises(ApiException) as created:
            conn.clients("2").experiments().create(name="x", **EXPERIMENT)
        with pytest.raises(ApiException) as listed:
            conn.clients("2").experiments().fetch()
        for raised in (created, listed):
            assert raised.value.status_code == 404
            assert "No client 2" in str(raised.value)

    def test_an_invalid_body_is_a_400_there_too(self, conn: Connection) -> None:
        with pytest.raises(ApiException) as raised:
            conn.clients("1").experiments().create(name="x", parameters=[])
        assert raised.value.status_code == 400
