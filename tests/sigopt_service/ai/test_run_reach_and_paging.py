"""Training runs under an experiment's path reach that experiment's runs only (what a share
token sees), checkpoints included; and a run listing pages on past a run that no longer
matches (completed, deleted, moved) since the page that ended with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from sigopt_service.config import ServiceConfig
from sigopt_service.http.query import decode_marker, encode_marker
from tests.sigopt_service.tokens_helpers import ADMIN, Api


@pytest.fixture
def service_config(tmp_path: Path) -> ServiceConfig:
    return ServiceConfig(port=0, db=tmp_path / "service.db", seed=1, tokens=(ADMIN,))


async def _ai_run_with_checkpoint(api: Api) -> tuple[str, str, str]:
    """An AI experiment's run with one checkpoint: (experiment, run, checkpoint) ids."""
    eid = await api.make_ai_experiment()
    run = await api.ok("POST", f"/v1/aiexperiments/{eid}/training_runs", ADMIN, {"name": "r"})
    checkpoint = await api.ok(
        "POST",
        f"/v1/training_runs/{run['id']}/checkpoints",
        ADMIN,
        {"values": [{"name": "y", "value": 1.0}]},
    )
    return eid, str(run["id"]), str(checkpoint["id"])


class TestExperimentPathReach:
    async def test_share_token_reaches_no_other_experiments_checkpoint(self, api: Api) -> None:
        """1. A classic experiment's share token. 2. Another experiment's run and its
        checkpoint, named under the shared experiment's path: 404s, the checkpoint as
        the run (it used to answer the checkpoint). 3. Under its own experiment's path the
        same checkpoint is found (admin)."""
        shared = await api.make_experiment()
        share = (await api.ok("POST", f"/v1/experiments/{shared}/tokens"))["token"]
        other, run, checkpoint = await _ai_run_with_checkpoint(api)
        for path in (
            f"/v1/experiments/{shared}/training_runs/{run}",
            f"/v1/experiments/{shared}/training_runs/{run}/checkpoints",
            f"/v1/experiments/{shared}/training_runs/{run}/checkpoints/{checkpoint}",
        ):
            for token in (share, ADMIN):
                status, answer = await api("GET", path, token)
                assert (status, answer["code"]) == (404, "not_found"), (path, answer)
        # Nor is a checkpoint added to it there (admin: a share token writes nothing).
        status, answer = await api(
            "POST",
            f"/v1/experiments/{shared}/training_runs/{run}/checkpoints",
            ADMIN,
            {"values": [{"name": "y", "value": 2.0}]},
        )
        assert (status, answer["code"]) == (404, "not_found"), answer
        listed = await api.ok("GET", f"/v1/experiments/{other}/training_runs/{run}/checkpoints")
        assert [c["id"] for c in listed["data"]] == [checkpoint]
        found = await api.ok(
            "GET", f"/v1/experiments/{other}/training_runs/{run}/checkpoints/{checkpoint}"
        )
        assert found["training_run"] == run

    async def test_tokens_that_only_read_change_no_run(self, api: Api) -> None:
        """A read-only token and the AI experiment's share token read its run (the share
        token under its experiment's path only) and are refused every write to it, the
        client's MERGE included: 403s, the run as it was."""
        eid, run, _ = await _ai_run_with_checkpoint(api)
        ro = (await api.make_token(permissions="read"))["token"]
        share = (await api.ok("POST", f"/v1/experiments/{eid}/tokens"))["token"]
        under = f"/v1/experiments/{eid}/training_runs/{run}"
        reads = {
            ro: [f"/v1/training_runs/{run}", under],
            share: [under, f"/v1/aiexperiments/{eid}"],
        }
        for token, paths in reads.items():
            for path in paths:
                await api.ok("GET", path, token)
        for path in (f"/v1/training_runs/{run}", "/v1/clients/1/projects/p"):
            status, answer = await api("GET", path, share)
            assert (status, answer["code"]) == (403, "forbidden"), path
        before = await api.ok("GET", f"/v1/training_runs/{run}")
        for token in (ro, share):
            for method, path, body in [
                ("MERGE", under, {"state": "completed", "values": {"y": {"value": 1.0}}}),
                ("PUT", under, {"name": "renamed"}),
                ("DELETE", under, None),
                ("POST", f"{under}/checkpoints", {"values": [{"name": "y", "value": 2.0}]}),
                ("MERGE", f"/v1/training_runs/{run}", {"metadata": {"k": 1}}),
            ]:
                status, answer = await api(method, path, token, body)
                assert (status, answer["code"]) == (403, "forbidden"), (method, path)
        assert await api.ok("GET", f"/v1/training_runs/{run}") == before
        assert before["state"] == "active" and before["checkpoint_count"] == 1


async def _create_runs(api: Api, count: int) -> list[str]:
    ids = []
    for i in range(count):
        made = await api.ok(
            "POST",
            "/v1/clients/1/projects/p/training_runs",
            ADMIN,
            {"name": f"run {i}", "values": {"m": {"value": float(i)}}},
        )
        ids.append(str(made["id"]))
    return ids


async def _page(api: Api, query: dict[str, Any]) -> tuple[list[str], str | None]:
    """One page's run ids and the run its `before` marker names (None: the last page)."""
    text = "&".join(f"{k}={quote(str(v))}" for k, v in query.items())
    got = await api.ok("GET", f"/v1/clients/1/projects/p/training_runs?{text}")
    before = got["paging"]["before"]
    return [r["id"] for r in got["data"]], None if before is None else str(
        decode_marker(before, "before")
    )


ACTIVE = json.dumps([{"field": "state", "operator": "==", "value": "active"}])
NOT_DELETED = json.dumps([{"field": "deleted", "operator": "==", "value": False}])


class TestPagingPastAChangedRun:
    """The next page starts where the previous page's last run sorts now, though it no
    longer matches the listing (the bug fixed for observations in `store/_listing.py`)."""

    @pytest.mark.parametrize(
        ("query", "change"),
        [
            ({"filters": ACTIVE}, {"state": "completed"}),
            ({"filters": NOT_DELETED}, {"deleted": True}),
            ({"filters": ACTIVE, "sort": "values.m.value"}, {"state": "failed"}),
            ({"search": "run"}, {"name": "renamed"}),
            ({}, {"project": "q"}),
        ],
        ids=["completed", "deleted", "sorted-by-value", "renamed", "moved"],
    )
    async def test_next_page_after_the_cursor_run_changed(
        self, api: Api, query: dict[str, Any], change: dict[str, Any]
    ) -> None:
        """1. Three runs; the first page of one run ends with the newest. 2. That run
        changes so that it leaves the listing. 3. The next page has the two others, one
        at a time, and then the paging ends."""
        await api.ok("POST", "/v1/clients/1/projects", ADMIN, {"id": "p", "name": "P"})
        await api.ok("POST", "/v1/clients/1/projects", ADMIN, {"id": "q", "name": "Q"})
        first, second, third = await _create_runs(api, 3)
        page, before = await _page(api, {**query, "limit": 1})
        assert (page, before) == ([third], third)
        await api.ok("MERGE", f"/v1/training_runs/{third}", ADMIN, change)
        for expected in (second, first):
            page, before = await _page(
                api, {**query, "limit": 1, "before": encode_marker(int(str(before)))}
            )
            assert page == [expected]
        assert before is None

    async def test_a_cursor_naming_no_run_ends_the_listing(self, api: Api) -> None:
        await api.ok("POST", "/v1/clients/1/projects", ADMIN, {"id": "p", "name": "P"})
        await _create_runs(api, 2)
        assert await _page(api, {"before": encode_marker(999)}) == ([], None)
