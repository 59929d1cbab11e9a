"""The pages for the experiment features of issue 15, as plain HTTP: conditional
experiments (a column per conditional, blank cells where a parameter is inactive, the
conditionals as axes in the page data), multitask (a task column, the task and whether an
observation counts as a value of the objective in the page data) and multisolution (the
summary lists the k solutions)."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.sigopt_service.pages.fill import api

TASKS = [{"name": "cheap", "cost": 0.1}, {"name": "full", "cost": 1.0}]
X = {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}


def create(url: str, **body: Any) -> str:
    answer = api("POST", f"{url}/v1/experiments", json={"name": "e", **body})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def observe(url: str, eid: str, observations: list[dict[str, Any]]) -> None:
    sent = api(
        "POST",
        f"{url}/v1/experiments/{eid}/observations/batch",
        json={"observations": observations},
    )
    assert sent.status_code == 200, sent.text


def page(url: str, path: str) -> str:
    answer = api("GET", f"{url}{path}")
    assert answer.status_code == 200, answer.text
    return answer.text


def header_of(html: str, table_id: str) -> list[str]:
    table = html.split(f'id="{table_id}"', 1)[1].split("</thead>", 1)[0]
    return [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", table)]


def page_history(url: str, eid: str) -> dict[str, Any]:
    data: dict[str, Any] = api("GET", f"{url}/experiment/{eid}/history.json").json()
    return data


def test_conditional_columns_and_blank_cells(threaded_service_url: str) -> None:
    url = threaded_service_url
    eid = create(
        url,
        parameters=[X, {**X, "name": "depth", "conditions": {"arch": ["tree"]}}],
        conditionals=[{"name": "arch", "values": ["mlp", "tree"]}],
        observation_budget=5,
    )
    observe(
        url,
        eid,
        [
            {"assignments": {"arch": "mlp", "x": 0.5}, "values": [{"value": 1}]},
            {"assignments": {"arch": "tree", "x": 0.2, "depth": 0.7}, "values": [{"value": 2}]},
        ],
    )
    html = page(url, f"/experiment/{eid}/analysis?sort=id&order=asc")
    assert header_of(html, "observations-table")[4:7] == ["arch", "depth", "x"]
    row = html.split('data-id="1">', 1)[1].split("</tr>", 1)[0]
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
    assert cells[4:7] == ["mlp", "", "0.5"]  # depth is inactive: blank
    assert header_of(page(url, f"/experiment/{eid}"), "best")[:4] == [
        "observation",
        "arch",
        "depth",
        "x",
    ]
    embedded = html.split('id="page-data"', 1)
    assert len(embedded) == 2 and '"conditionals"' in embedded[1]


def test_multitask_task_column_and_full_cost_flag(threaded_service_url: str) -> None:
    url = threaded_service_url
    eid = create(url, parameters=[X], tasks=TASKS, observation_budget=5)
    observe(
        url,
        eid,
        [
            {"assignments": {"x": 0.5}, "values": [{"value": 9}], "task": "cheap"},
            {"assignments": {"x": 0.2}, "values": [{"value": 1}], "task": "full"},
        ],
    )
    html = page(url, f"/experiment/{eid}/analysis?sort=task&order=asc")
    assert header_of(html, "observations-table")[4] == "task"
    assert [int(i) for i in re.findall(r'<tr class="" data-id="(\d+)">', html)] == [1, 2]
    history = page_history(url, eid)
    assert [(o["task"], o["full_cost"]) for o in history["observations"]] == [
        ("cheap", False),
        ("full", True),
    ]
    assert history["best"] == [2]  # the cheap task's 9 is no value of the objective
    summary = page(url, f"/experiment/{eid}")
    assert "Of the full-cost task only" in summary
    assert header_of(summary, "best")[:2] == ["observation", "task"]


def test_multisolution_summary_lists_the_solutions(threaded_service_url: str) -> None:
    url = threaded_service_url
    eid = create(url, parameters=[X, {**X, "name": "y"}], num_solutions=3, observation_budget=30)
    # Four good points (two of them close together) among 20: the top fifth.
    points = [(0.1, 0.1, 5.0), (0.12, 0.1, 4.9), (0.9, 0.9, 4.0), (0.1, 0.9, 3.0)]
    points += [(0.5, 0.3 + i / 100, 0.0) for i in range(16)]
    observe(
        url,
        eid,
        [{"assignments": {"x": x, "y": y}, "values": [{"value": v}]} for x, y, v in points],
    )
    summary = page(url, f"/experiment/{eid}")
    assert "Solutions (3 of 3)" in summary
    rows = summary.split('id="best"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<tr><td class="num">(\d+)</td>', rows) == ["1", "3", "4"]
    assert "(3 solutions)" in summary
    assert json.loads(json.dumps(page_history(url, eid)["best"])) == [1, 3, 4]
