"""`orchestrator export`: an experiment's data through the API, as CSV (the service's
history download, byte for byte) or as JSON (the experiment, its observations and
suggestions), against the real service on loopback."""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import main

#: A user's names and values as they come: markup, commas, quotes, line breaks.
XSS = "<img src=x onerror=alert(1)>"
EXPERIMENT = {
    "name": f"export {XSS}",
    "type": "random",
    "parameters": [
        {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
        {"name": "n", "type": "int", "bounds": {"min": 1, "max": 5}},
        {"name": "kind", "type": "categorical", "categorical_values": ["ok", XSS]},
    ],
    "metrics": [
        {"name": "score", "objective": "maximize"},
        {"name": "loss", "objective": "minimize"},
    ],
    "observation_budget": 10,
}


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def api(url: str, path: str, method: str = "GET", body: Any = None) -> Any:
    status, text = call(f"{url}/v1{path}", method, body)
    assert status == 200, text
    return json.loads(text)


def fill(url: str) -> str:
    """Three completed observations (stddevs, awkward metadata), two failed ones with
    the orchestrator's failure metadata, and one open suggestion."""
    eid = str(api(url, "/experiments", "POST", EXPERIMENT)["id"])
    bodies: list[dict[str, Any]] = [
        {
            "values": [
                {"name": "score", "value": 0.25, "value_stddev": 0.01},
                {"name": "loss", "value": 1 / 3},
            ],
            "metadata": {"host": 'a,"b"\nc', "worker_slot": 1},
        },
        {"failed": True, "metadata": {"failure_reason": "exit_code", "failure_message": XSS}},
        {"values": [{"name": "score", "value": 0.75}, {"name": "loss", "value": 2.0}]},
        {"failed": True, "metadata": {"failure_reason": "timeout"}},
        {
            "values": [{"name": "score", "value": -1e-7}, {"name": "loss", "value": 0.0}],
            "metadata": {"run": "r1"},
        },
    ]
    for body in bodies:
        suggestion = api(url, f"/experiments/{eid}/suggestions", "POST", {})["id"]
        api(url, f"/experiments/{eid}/observations", "POST", {"suggestion": suggestion, **body})
    api(url, f"/experiments/{eid}/suggestions", "POST", {})
    return eid


def every(url: str, path: str) -> list[dict[str, Any]]:
    """Every item of a list, following `paging.before`."""
    items: list[dict[str, Any]] = []
    query = ""
    while True:
        page = api(url, path + query)
        items += page["data"]
        if not page["data"] or page["paging"]["before"] is None:
            return items
        query = f"?before={page['paging']['before']}"


@pytest.fixture
def experiment(threaded_service_url: str) -> tuple[str, str]:
    return threaded_service_url, fill(threaded_service_url)


def export(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["export", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class TestCsv:
    def test_rows_are_the_apis_observations(
        self, experiment: tuple[str, str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """One row per observation, oldest first, failed ones included: each cell is the
        API's value (floats to every digit), metadata in `metadata.*` columns."""
        url, eid = experiment
        code, out, _ = export(capsys, eid, "--api-url", url)
        assert code == 0
        rows = list(csv.DictReader(io.StringIO(out, newline="")))
        observations = every(url, f"/experiments/{eid}/observations")[::-1]
        assert [r["id"] for r in rows] == [o["id"] for o in observations]
        assert [r["failed"] for r in rows] == ["false", "true", "false", "true", "false"]
        for row, o in zip(rows, observations, strict=True):
            assert row["suggestion"] == o["suggestion"]
            assert row["parameter.x"] == repr(o["assignments"]["x"])
            assert row["parameter.n"] == str(o["assignments"]["n"])
            assert row["parameter.kind"] == o["assignments"]["kind"]
            values = {v["name"]: v for v in o["values"]}
            for metric in ("score", "loss"):
                given = values.get(metric, {})
                value, stddev = given.get("value"), given.get("value_stddev")
                assert row[f"value.{metric}"] == ("" if value is None else repr(value))
                assert row[f"value_stddev.{metric}"] == ("" if stddev is None else repr(stddev))
            meta = o["metadata"] or {}
            assert row["failure_reason"] == meta.get("failure_reason", "")
            for key in ("host", "worker_slot", "failure_message", "run"):
                assert row[f"metadata.{key}"] == str(meta.get(key, ""))
        assert rows[0]["metadata.host"] == 'a,"b"\nc'
        assert rows[1]["metadata.failure_message"] == XSS
        assert rows[0]["value.loss"] == repr(1 / 3)

    def test_header(self, experiment: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
        """Parameters and metrics in the experiment's order (the service sorts them by
        name), metadata keys sorted, `failure_reason` once, as its own column."""
        url, eid = experiment
        _, out, _ = export(capsys, eid, "--api-url", url)
        header = out.split("\r\n", 1)[0].split(",")
        assert header == [
            "id",
            "suggestion",
            "created",
            "failed",
            "failure_reason",
            "parameter.kind",
            "parameter.n",
            "parameter.x",
            "value.loss",
            "value_stddev.loss",
            "value.score",
            "value_stddev.score",
            "metadata.failure_message",
            "metadata.host",
            "metadata.run",
            "metadata.worker_slot",
        ]

    def test_equals_the_services_history_download(
        self, experiment: tuple[str, str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The export, built from the API's objects, is the service's own CSV download
        (`GET /experiment/{id}/historydownload`) byte for byte."""
        url, eid = experiment
        _, out, _ = export(capsys, eid, "--api-url", url)
        status, downloaded = call(f"{url}/experiment/{eid}/historydownload")
        assert status == 200, downloaded
        assert out == downloaded

    def test_output_file(
        self, experiment: tuple[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """`--output FILE` writes the same bytes and says so on the console; `-` is stdout."""
        url, eid = experiment
        _, to_stdout, _ = export(capsys, eid, "--api-url", url, "--output", "-")
        target = tmp_path / "history.csv"
        code, out, _ = export(capsys, eid, "--api-url", url, "--output", str(target))
        assert code == 0
        assert target.read_bytes() == to_stdout.encode()
        assert f"exported 5 observation(s) of experiment {eid} to {target}" in out


class TestJson:
    def test_the_experiment_its_observations_and_suggestions(
        self, experiment: tuple[str, str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The experiment, every observation (failed ones included) and every suggestion
        (open and closed), each as the API gives it."""
        url, eid = experiment
        code, out, _ = export(capsys, eid, "--api-url", url, "--format", "json")
        assert code == 0
        data = json.loads(out)
        assert set(data) == {"experiment", "observations", "suggestions"}
        raw = api(url, f"/experiments/{eid}")
        assert data["experiment"] == {k: raw[k] for k in data["experiment"]}
        assert data["experiment"]["name"] == f"export {XSS}"
        assert data["observations"] == every(url, f"/experiments/{eid}/observations")
        assert sum(o["failed"] for o in data["observations"]) == 2
        assert data["suggestions"] == every(url, f"/experiments/{eid}/suggestions")
        assert sorted(s["state"] for s in data["suggestions"]) == ["closed"] * 5 + ["open"]


class TestErrors:
    def test_unknown_experiment(
        self, threaded_service_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Exit 2, naming the id and the service."""
        code, out, _ = export(capsys, "999", "--api-url", threaded_service_url)
        assert code == 2
        assert f"no experiment 999 on {threaded_service_url}" in out

    @pytest.mark.parametrize("bad", ["localhost:8080", "ftp://host"])
    def test_bad_url(self, bad: str, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = export(capsys, "1", "--api-url", bad)
        assert code == 2
        assert "--api-url" in out
        assert "http://" in out

    def test_no_experiment_and_no_config(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = export(capsys, "--api-url", "http://127.0.0.1:9")
        assert code == 2
        assert "give the experiment id" in out

    def test_unwritable_output(
        self, experiment: tuple[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        url, eid = experiment
        target = tmp_path / "no" / "such" / "folder.csv"
        code, out, _ = export(capsys, eid, "--api-url", url, "--output", str(target))
        assert code == 2
        assert f"cannot write {target}" in out
