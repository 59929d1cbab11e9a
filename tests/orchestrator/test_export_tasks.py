"""`orchestrator export` of a multitask experiment (issue 15 item 5): a `task` column,
after `failure_reason`, with each observation's task name, in the export and in the
service's own history download alike, byte for byte."""

from __future__ import annotations

import csv
import io

import pytest

from tests.orchestrator.test_export import api, call, export

EXPERIMENT = {
    "name": "export tasks",
    "type": "random",
    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
    "tasks": [{"name": "cheap", "cost": 0.1}, {"name": "full", "cost": 1}],
    "observation_budget": 10,
}


def test_csv_has_the_task_of_each_observation(
    threaded_service_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = threaded_service_url
    eid = str(api(url, "/experiments", "POST", EXPERIMENT)["id"])
    for task, value in (("cheap", 0.5), ("full", 0.25)):
        body = {"assignments": {"x": value}, "values": [{"value": value}], "task": task}
        api(url, f"/experiments/{eid}/observations", "POST", body)
    suggestion = api(url, f"/experiments/{eid}/suggestions", "POST", {})
    api(
        url,
        f"/experiments/{eid}/observations",
        "POST",
        {"suggestion": suggestion["id"], "failed": True},
    )
    code, out, _ = export(capsys, eid, "--api-url", url)
    assert code == 0
    header = out.split("\r\n", 1)[0].split(",")
    assert header[:7] == [
        "id",
        "suggestion",
        "created",
        "failed",
        "failure_reason",
        "task",
        "parameter.x",
    ]
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [r["task"] for r in rows] == ["cheap", "full", suggestion["task"]["name"]]
    status, downloaded = call(f"{url}/experiment/{eid}/historydownload")
    assert status == 200 and out == downloaded
