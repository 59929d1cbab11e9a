"""API tokens through the official `sigopt` client: `tokens("self").fetch()` for every
kind of token, a read-only token that fetches but cannot create, an experiment's share
token made with `experiments(id).tokens().create()`, and a revoked token refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sigopt import Connection
from sigopt.exception import ApiException

from sigopt_service.config import ServiceConfig
from tests.sigopt_service.conftest import EXPERIMENT
from tests.sigopt_service.tokens_helpers import ADMIN

# The official client (or the coordinator) end to end, on SQLite and on PostgreSQL.
pytestmark = pytest.mark.postgres_too


@pytest.fixture
def service_config(tmp_path: Path) -> ServiceConfig:
    return ServiceConfig(port=0, db=tmp_path / "service.db", seed=1, tokens=(ADMIN,))


def _connection(token: str, url: str) -> Connection:
    return Connection(client_token=token, api_url=url)


def _new_token(admin: Connection, **body: object) -> str:
    # The client has no call for a client's tokens; its raw request reaches ours.
    made = admin.impl.driver.request("POST", ["clients", "1", "tokens"], body, None)
    return str(made["token"])


def test_read_only_token_fetches_but_cannot_create(threaded_service_url: str) -> None:
    """A read-only token lists, fetches and reads suggestions; creating an experiment, a
    suggestion or an observation is a 403 the client raises as ApiException."""
    admin = _connection(ADMIN, threaded_service_url)
    experiment = admin.experiments().create(**EXPERIMENT)
    admin.experiments(experiment.id).suggestions().create()
    reader = _connection(_new_token(admin, permissions="read"), threaded_service_url)
    me = reader.tokens("self").fetch()
    assert (me.client, me.all_experiments, me.token) == ("1", True, None)
    assert reader.experiments(experiment.id).fetch().name == EXPERIMENT["name"]
    assert [e.id for e in reader.experiments().fetch().iterate_pages()] == [experiment.id]
    assert len(list(reader.experiments(experiment.id).suggestions().fetch().iterate_pages())) == 1
    for attempt in (
        lambda: reader.experiments().create(**EXPERIMENT),
        lambda: reader.experiments(experiment.id).suggestions().create(),
        lambda: (
            reader.experiments(experiment.id)
            .observations()
            .create(assignments={"x": 0.5}, value=1.0)
        ),
        lambda: reader.experiments(experiment.id).tokens().create(),
    ):
        with pytest.raises(ApiException) as refused:
            attempt()
        assert refused.value.status_code == 403
        assert "read-only" in str(refused.value)


def test_share_token_from_the_client(threaded_service_url: str) -> None:
    """`experiments(id).tokens().create()` makes SigOpt's share token: it fetches that
    experiment, and another one is a 404."""
    admin = _connection(ADMIN, threaded_service_url)
    mine, other = (admin.experiments().create(**EXPERIMENT) for _ in range(2))
    share = admin.experiments(mine.id).tokens().create()
    assert (share.experiment, share.all_experiments, share.token_type) == (mine.id, False, "guest")
    assert share.expires is not None and share.token
    guest = _connection(share.token, threaded_service_url)
    assert guest.experiments(mine.id).fetch().id == mine.id
    assert guest.tokens("self").fetch().experiment == mine.id
    with pytest.raises(ApiException) as refused:
        guest.experiments(other.id).fetch()
    assert refused.value.status_code == 404


def test_configured_token_is_self_and_revoked_ones_are_refused(threaded_service_url: str) -> None:
    """The service's own token fetches as itself (what the AI module asks first); a
    revoked token's next call is a 401."""
    admin = _connection(ADMIN, threaded_service_url)
    me = admin.tokens("self").fetch()
    assert (me.client, me.all_experiments, me.development) == ("1", True, False)
    writer_secret = _new_token(admin)
    writer = _connection(writer_secret, threaded_service_url)
    writer_id = writer.impl.driver.request("GET", ["tokens", "self"], None, None)["id"]
    writer.experiments().create(**EXPERIMENT)
    admin.impl.driver.request("DELETE", ["tokens", writer_id], None, None)
    with pytest.raises(ApiException) as refused:
        writer.experiments().fetch()
    assert refused.value.status_code == 401
