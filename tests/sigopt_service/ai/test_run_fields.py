"""Issue 14 item 5 for training runs: every field a run accepts is stored and returned as
sent (MERGE merges, PUT replaces, null removes: sigopt-server's meanings), and what is
not accepted is a 400 naming its key path. Raw HTTP, so every body is exactly ours."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.sigopt_service.api_cases import call

FULL_RUN: dict[str, Any] = {
    "name": "full",
    "state": "active",
    "assignments": {"lr": 0.1, "optimizer": "adam", "flag": True},
    "values": {"acc": {"value": 0.9, "value_stddev": 0.1}},
    "metadata": {"owner": "me", "n": 3},
    "dev_metadata": {"integration": "tests"},
    "sys_metadata": {"feature_importances": {"a": [1, 2]}},
    "datasets": {"mnist": {}, "cifar": {"version": "2"}},
    "logs": {"stdout": {"content": "hello"}},
    "model": {"type": "resnet"},
    "source_code": {"content": "print(1)", "hash": "abc"},
    "assignments_meta": {"lr": {"source": "grid"}},
    "assignments_sources": {"grid": {"default_show": True, "sort": 2}},
    "favorite": True,
}


@pytest.fixture
async def project(http: aiohttp.ClientSession, service_url: str) -> str:
    status, body = await call(
        http, "POST", f"{service_url}/v1/clients/1/projects", {"id": "p", "name": "P"}
    )
    assert status == 200, body
    return f"{service_url}/v1/clients/1/projects/p"


async def _create(http: aiohttp.ClientSession, project: str, body: dict[str, Any]) -> str:
    status, made = await call(http, "POST", f"{project}/training_runs", body)
    assert status == 200, made
    return f"{project.split('/v1/')[0]}/v1/training_runs/{made['id']}"


class TestKept:
    """What a run accepts is stored and answered as sent."""

    async def test_every_field_returned_as_sent(
        self, http: aiohttp.ClientSession, project: str
    ) -> None:
        run = await _create(http, project, FULL_RUN)
        status, got = await call(http, "GET", run)
        assert status == 200
        for key in ("name", "state", "assignments", "metadata", "dev_metadata", "sys_metadata"):
            assert got[key] == FULL_RUN[key], key
        assert got["favorite"] is True and got["project"] == "p"
        assert got["values"]["acc"] == {
            "object": "metric_evaluation",
            "name": "acc",
            "value": 0.9,
            "value_stddev": 0.1,
        }
        assert got["datasets"]["cifar"] == {"object": "dataset", "version": "2"}
        assert got["logs"]["stdout"] == {"object": "log", "content": "hello"}
        assert got["model"] == {"object": "model", "type": "resnet"}
        assert got["source_code"] == {"object": "source_code", "content": "print(1)", "hash": "abc"}
        assert got["assignments_meta"]["lr"]["source"] == "grid"
        assert got["assignments_sources"]["grid"]["sort"] == 2

    async def test_merge_merges_put_replaces_null_removes(
        self, http: aiohttp.ClientSession, project: str
    ) -> None:
        run = await _create(http, project, FULL_RUN)
        status, got = await call(
            http,
            "MERGE",
            run,
            {"metadata": {"n": None, "new": "x"}, "values": {"f1": {"value": 1}}},
        )
        assert status == 200, got
        assert got["metadata"] == {"owner": "me", "new": "x"}
        assert set(got["values"]) == {"acc", "f1"}
        status, got = await call(http, "PUT", run, {"metadata": {"only": 1}, "values": None})
        assert status == 200, got
        assert got["metadata"] == {"only": 1} and got["values"] == {}
        assert got["assignments"] == FULL_RUN["assignments"]  # not named: kept
        status, got = await call(http, "MERGE", run, {"state": "completed"})
        assert got["state"] == "completed" and got["completed"] and got["finished"]
        status, got = await call(http, "PUT", run, {"deleted": True})
        assert got["deleted"] is True
        status, got = await call(http, "GET", run)
        assert got["deleted"] is True  # a deleted run is still found

    async def test_skip_header_and_move_to_another_project(
        self, http: aiohttp.ClientSession, project: str, service_url: str
    ) -> None:
        """`X-Response-Content: skip` (the client's, on every log) answers 204; `project`
        moves a run to an existing project only."""
        run = await _create(http, project, {"name": "r"})
        async with http.request(
            "MERGE", run, json={"metadata": {"a": 1}}, headers={"X-Response-Content": "skip"}
        ) as resp:
            assert resp.status == 204
        await call(http, "POST", f"{service_url}/v1/clients/1/projects", {"id": "q", "name": "Q"})
        status, got = await call(http, "PUT", run, {"project": "q"})
        assert (status, got["project"], got["metadata"]) == (200, "q", {"a": 1})
        status, got = await call(http, "PUT", run, {"project": "nope"})
        assert (status, got["field"]) == (400, "project")

    async def test_batch_upload_answers_the_fields_asked(
        self, http: aiohttp.ClientSession, project: str
    ) -> None:
        """`upload_runs` sends `fields="id"`: each answered run has only its id."""
        runs = [
            {"name": f"r{i}", "state": "completed", "values": {"m": {"value": i}}} for i in range(3)
        ]
        status, got = await call(
            http, "POST", f"{project}/training_runs/batch", {"runs": runs, "fields": "id"}
        )
        assert status == 200, got
        assert got["count"] == 3 and all(set(r) == {"id"} for r in got["data"])
        status, got = await call(
            http, "POST", f"{project}/training_runs/batch", {"runs": [{"name": "a"}, {"x": 1}]}
        )
        assert (status, got["field"]) == (400, "runs[1].x")
        status, listed = await call(http, "GET", f"{project}/training_runs")
        assert listed["count"] == 3  # nothing of the refused batch was stored


REFUSED = [
    ({"name": "r", "colour": "red"}, "colour"),
    ({"state": "active"}, "name"),
    ({"name": "r", "state": "done"}, "state"),
    ({"name": "r", "project": "p"}, "project"),
    ({"name": "r", "deleted": True}, "deleted"),
    ({"name": "r", "values": {"acc": {"value": "high"}}}, "values.acc.value"),
    ({"name": "r", "values": {"acc": {"value": 1, "stderr": 1}}}, "values.acc.stderr"),
    ({"name": "r", "values": {"acc": {"value": 1, "value_stddev": -1}}}, "values.acc.value_stddev"),
    ({"name": "r", "values": {"acc": {"value_stddev": 1}}}, "values.acc.value"),
    ({"name": "r", "values": {"acc": {"name": "f1", "value": 1}}}, "values.acc.name"),
    ({"name": "r", "metadata": {"k": [1]}}, "metadata.k"),
    ({"name": "r", "assignments": {"x": {"nested": 1}}}, "assignments.x"),
    ({"name": "r", "logs": {"out": {"content": "x" * 70_000}}}, "logs.out.content"),
    ({"name": "r", "logs": {"out": "text"}}, "logs.out"),
    ({"name": "r", "model": {"type": "m", "size": 1}}, "model.size"),
    ({"name": "r", "assignments_meta": {"lr": {"source": "SigOpt"}}}, "assignments_meta.lr.source"),
    ({"name": "r", "favorite": "yes"}, "favorite"),
    ({"name": " "}, "name"),
]


class TestRefused:
    """Anything a run does not accept is a 400 that names it, and stores nothing."""

    @pytest.mark.parametrize(("body", "field"), REFUSED)
    async def test_create_refusals_name_the_key(
        self, http: aiohttp.ClientSession, project: str, body: dict[str, Any], field: str
    ) -> None:
        status, got = await call(http, "POST", f"{project}/training_runs", body)
        assert status == 400, got
        assert got["field"] == field, got
        status, listed = await call(http, "GET", f"{project}/training_runs")
        assert listed["count"] == 0

    async def test_update_refusals(self, http: aiohttp.ClientSession, project: str) -> None:
        run = await _create(http, project, {"name": "r"})
        for body, field in (
            ({"state": None}, "state"),
            ({"name": None}, "name"),
            ({"project": None}, "project"),
            ({"deleted": "no"}, "deleted"),
            ({"id": 3}, "id"),
        ):
            status, got = await call(http, "MERGE", run, body)
            assert (status, got["field"]) == (400, field), body
        status, got = await call(http, "POST", f"{run}/files", {"name": "img"})
        assert status == 400 and "not supported" in got["message"]


class TestListing:
    """A project's runs: filters, search and sort as sigopt-server reads them."""

    async def test_filters_search_sort(self, http: aiohttp.ClientSession, project: str) -> None:
        for i in range(4):
            body = {
                "name": f"run {i}",
                "values": {"m": {"value": i}},
                "metadata": {"even": i % 2 == 0},
            }
            if i == 3:
                body = {"name": "other"}
            await _create(http, project, body)

        async def ids(query: str) -> list[str]:
            status, got = await call(http, "GET", f"{project}/training_runs?{query}")
            assert status == 200, got
            return [r["name"] for r in got["data"]]

        filters = '[{"field": "values.m.value", "operator": ">=", "value": 1}]'
        assert await ids(f"filters={filters}") == ["run 2", "run 1"]
        even = '[{"field": "metadata.even", "operator": "==", "value": true}]'
        assert await ids(f"filters={even}") == ["run 2", "run 0"]
        null = '[{"field": "values.m.value", "operator": "isnull"}]'
        assert await ids(f"filters={null}") == ["other"]
        assert await ids("search=RUN&sort=values.m.value&ascending=true") == [
            "run 0",
            "run 1",
            "run 2",
        ]
        assert await ids("limit=1") == ["other"]
        for query, field in (
            ("filters=[{", "filters"),
            ('filters=[{"field":"colour","operator":"==","value":1}]', "filters[0].field"),
            ('filters=[{"field":"state","operator":">","value":"active"}]', "filters[0].operator"),
            ('filters=[{"field":"id","operator":"==","value":"x"}]', "filters[0].value"),
            ("sort=colour", "sort"),
        ):
            status, got = await call(http, "GET", f"{project}/training_runs?{query}")
            assert (status, got["field"]) == (400, field), query
