"""Projects, the client and its organization through the official client: what
`sigopt create project`, `ensure_project_exists` and the project listings call."""

from __future__ import annotations

import pytest
from sigopt import Connection
from sigopt.exception import (
    ApiException,
    ConflictingProjectException,
    ProjectNotFoundException,
)
from sigopt.factory import SigOptFactory

from tests.sigopt_service.ai.conftest import AI_EXPERIMENT


class TestProjects:
    """Created once, fetched with counts, listed, updated; unknown ones are 404s."""

    def test_create_twice_and_unknown(self, conn: Connection) -> None:
        factory = SigOptFactory("alpha", connection=conn)
        made = factory.create_project(name="Alpha")
        assert (made.id, made.name, made.client) == ("alpha", "Alpha", "1")
        with pytest.raises(ConflictingProjectException):
            SigOptFactory("alpha", connection=conn).create_project()
        with pytest.raises(ProjectNotFoundException):
            SigOptFactory("beta", connection=conn).ensure_project_exists()
        assert factory.ensure_project_exists() == ("1", "alpha")

    def test_counts_listing_and_update(self, conn: Connection, factory: SigOptFactory) -> None:
        """Counts are of experiments (AI and classic) and runs in the project; the list is
        most recently updated first; an update renames, sets metadata, deletes."""
        factory.create_experiment(**AI_EXPERIMENT).create_run()
        conn.experiments().create(name="c", parameters=AI_EXPERIMENT["parameters"], project="proj")
        projects = conn.clients("1").projects
        got = projects("proj").fetch().to_json()
        assert (got["experiment_count"], got["training_run_count"]) == (2, 1)
        classic = projects("proj").experiments().fetch()
        assert len(list(classic.iterate_pages())) == 1  # AI ones only with include_ai
        SigOptFactory("other", connection=conn).create_project(name="Other")
        assert [p.id for p in projects().fetch().iterate_pages()] == ["other", "proj"]
        assert [p.id for p in projects().fetch(sort="created", limit=1).iterate_pages()] == [
            "other",
            "proj",
        ]
        renamed = projects("proj").update(name="Renamed", metadata={"team": "a"})
        assert (renamed.name, renamed.metadata["team"]) == ("Renamed", "a")
        projects("other").update(deleted=True)
        assert [p.id for p in projects().fetch().iterate_pages()] == ["proj"]
        assert len(list(projects().fetch(deleted=True).iterate_pages())) == 2
        for bad in ({"id": "x"}, {"name": ""}, {"deleted": "yes"}):
            with pytest.raises(ApiException) as refused:
                projects("proj").update(**bad)
            assert refused.value.status_code == 400
            assert refused.value.to_json()["field"] == next(iter(bad))

    def test_project_ids_and_clients(self, conn: Connection) -> None:
        """A malformed id is refused (400 on create, 404 on fetch); there is one client
        and one organization, id 1."""
        for bad in ("Upper", "a/b", "x" * 33, ""):
            with pytest.raises(ApiException) as refused:
                conn.clients("1").projects().create(id=bad, name="n")
            assert refused.value.status_code == 400
        with pytest.raises(ApiException) as missing:
            conn.clients("1").projects("UPPER").fetch()
        assert missing.value.status_code == 404
        assert conn.clients("1").fetch().organization == "1"
        assert conn.organizations("1").fetch().id == "1"
        assert [o.id for o in conn.organizations().fetch().iterate_pages()] == ["1"]
        with pytest.raises(ApiException) as other:
            conn.clients("2").projects().fetch()
        assert other.value.status_code == 404
        token = conn.tokens("self").fetch()
        assert token.client == "1"
