"""The pages as plain HTTP (what a browser with JavaScript off gets): server-rendered
tables with sorting, filters and pages, escaped user text, the security headers, the CSV
download, the live-update JSON, static files with caching, HTML errors."""

from __future__ import annotations

import csv
import io
import re

from sigopt_service.http.pages.experiments import PER_PAGE
from sigopt_service.http.pages.rendering import CONTENT_SECURITY_POLICY
from tests.sigopt_service.pages.fill import (
    XSS_CATEGORY,
    XSS_NAME,
    XSS_REASON,
    Filled,
    api,
    api_observations,
    fill,
)

ROW = re.compile(r'<tr class="(failed)?" data-id="(\d+)">')


def listed_ids(html: str) -> list[int]:
    """The experiments a list page shows, in its order."""
    return [int(i) for i in re.findall(r'<td><a href="/experiment/(\d+)">', html)]


def table_ids(html: str) -> list[int]:
    return [int(m.group(2)) for m in ROW.finditer(html)]


def failed_ids(html: str) -> list[int]:
    return [int(m.group(2)) for m in ROW.finditer(html) if m.group(1)]


def analysis(filled: Filled, **query: str) -> str:
    answer = api("GET", filled.analysis, params=query)
    assert answer.status_code == 200, answer.text
    return answer.text


class TestWithoutJavaScript:
    def test_table_is_in_the_html(self, threaded_service_url: str) -> None:
        """The analysis page itself holds the table: 50 rows a page, newest first, failed
        rows marked, user text escaped, and a strict Content-Security-Policy."""
        filled = fill(threaded_service_url, 70)
        answer = api("GET", filled.analysis)
        html = answer.text
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in CONTENT_SECURITY_POLICY
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        ids = table_ids(html)
        assert ids == sorted((int(o["id"]) for o in api_observations(filled)), reverse=True)[:50]
        assert failed_ids(html)
        for raw in (XSS_NAME, XSS_REASON, XSS_CATEGORY):
            assert raw not in html
        assert "&lt;img src=x onerror=window.__xss=1&gt;" in html
        assert "&lt;script&gt;window.__xss=2&lt;/script&gt;" in html
        assert "<script>" not in html.replace('<script type="application/json"', "")
        assert "70 of 70 observations" in html

    def test_sort_filter_and_pages(self, threaded_service_url: str) -> None:
        """Any column sorts (missing values last), status and metadata filter, pages page."""
        filled = fill(threaded_service_url, 70)
        listed = {int(o["id"]): o for o in api_observations(filled)}
        by_x = sorted(listed, key=lambda i: listed[i]["assignments"]["x"])
        assert table_ids(analysis(filled, sort="param:x", order="asc")) == by_x[:50]
        assert table_ids(analysis(filled, sort="param:x", order="asc", page="2")) == by_x[50:]
        failed = sorted(i for i, o in listed.items() if o["failed"])
        only_failed = analysis(filled, status="failed", order="asc")
        assert table_ids(only_failed) == failed == failed_ids(only_failed)
        completed = table_ids(analysis(filled, status="completed", per_page="500"))
        assert sorted(completed) == sorted(set(listed) - set(failed))
        by_value = table_ids(analysis(filled, sort="value:accuracy", order="desc", per_page="500"))
        valued = sorted(
            (i for i in listed if not listed[i]["failed"]),
            key=lambda i: -listed[i]["values"][0]["value"],
        )
        assert by_value == valued + sorted(failed)  # no value: last, in id order
        hosts = analysis(filled, meta_key="host", meta_value="h2", per_page="500")
        expected = [i for i, o in listed.items() if (o["metadata"] or {}).get("host") == "h2"]
        assert sorted(table_ids(hosts)) == sorted(expected)
        assert table_ids(analysis(filled, sort="nonsense", page="x")) == table_ids(analysis(filled))

    def test_fragment_is_the_table_alone(self, threaded_service_url: str) -> None:
        filled = fill(threaded_service_url, 5)
        html = api("GET", f"{filled.analysis}/observations", params={"status": "failed"}).text
        assert "<html" not in html and len(table_ids(html)) == filled.failed

    def test_list_and_summary(self, threaded_service_url: str) -> None:
        """The list shows each experiment's progress and failures; the summary its
        definition and open suggestions with their metadata."""
        filled = fill(threaded_service_url, 20)
        opened = api(
            "POST",
            f"{filled.url}/v1/experiments/{filled.id}/suggestions",
            json={"metadata": {"run_id": "r-7", "host": "<i>box</i>", "worker_slot": 3}},
        ).json()
        listing = api("GET", f"{filled.url}/").text
        assert f'<a href="/experiment/{filled.id}">&lt;img' in listing
        assert "20 / 30" in listing
        assert f'<td class="num bad">{filled.failed}</td>' in listing
        summary = api("GET", f"{filled.url}/experiment/{filled.id}").text
        assert f'<tr data-id="{opened["id"]}">' in summary
        assert "host=&lt;i&gt;box&lt;/i&gt;" in summary and "run_id=r-7" in summary

    def test_list_pages_newest_first(self, threaded_service_url: str) -> None:
        """25 experiments a page, newest first; the link to older ones leads to the rest,
        each row with its own experiment's counts."""
        url = threaded_service_url
        filled = [fill(url, i % 3, name=f"e{i}", seed=i) for i in range(PER_PAGE + 2)]
        first = api("GET", f"{url}/experiments").text
        assert listed_ids(first) == [int(f.id) for f in filled][::-1][:PER_PAGE]
        older = re.search(r'href="(/experiments\?before=\d+)" rel="next"', first)
        assert older is not None
        second = api("GET", f"{url}{older.group(1)}").text
        assert listed_ids(second) == [int(filled[1].id), int(filled[0].id)]
        assert 'rel="next"' not in second
        assert f"{filled[1].count} / {filled[1].count + 10}" in second

    def test_unknown_experiment_is_an_html_404(self, threaded_service_url: str) -> None:
        for path in ("/experiment/999/analysis", "/experiment/abc", "/nowhere"):
            answer = api("GET", f"{threaded_service_url}{path}")
            assert answer.status_code == 404
            assert answer.headers["Content-Type"].startswith("text/html")
        api_404 = api("GET", f"{threaded_service_url}/v1/experiments/999")
        assert api_404.status_code == 404 and api_404.json()["code"] == "not_found"


class TestDownloadAndData:
    def test_csv_has_a_row_per_observation(self, threaded_service_url: str) -> None:
        """Columns: id, suggestion, created, failed, failure_reason, each parameter, each
        metric's value and stddev, each metadata key; values as the API has them."""
        filled = fill(threaded_service_url, 25)
        answer = api("GET", f"{filled.url}/experiment/{filled.id}/historydownload")
        assert answer.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in answer.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert list(rows[0]) == [
            "id",
            "suggestion",
            "created",
            "failed",
            "failure_reason",
            "parameter.k",  # parameters in the experiment's order: by name, as SigOpt's
            "parameter.lr",
            "parameter.n",
            "parameter.x",
            "value.accuracy",
            "value_stddev.accuracy",
            "metadata.host",
            "metadata.worker_slot",
        ]
        listed = {o["id"]: o for o in api_observations(filled)}
        assert sorted(r["id"] for r in rows) == sorted(listed)
        for row in rows:
            o = listed[row["id"]]
            assert row["failed"] == ("true" if o["failed"] else "false")
            assert float(row["parameter.x"]) == o["assignments"]["x"]
            assert row["parameter.k"] == o["assignments"]["k"]
            if o["failed"]:
                assert row["failure_reason"] == XSS_REASON and row["value.accuracy"] == ""
            else:
                assert float(row["value.accuracy"]) == o["values"][0]["value"]
                assert float(row["value_stddev.accuracy"]) == 0.01
            assert row["created"].endswith("Z")

    def test_history_after_sends_only_what_is_new(self, threaded_service_url: str) -> None:
        filled = fill(threaded_service_url, 8)
        url = f"{filled.url}/experiment/{filled.id}/history.json"
        whole = api("GET", url).json()
        assert whole["complete"] and len(whole["observations"]) == 8
        last = max(o["id"] for o in whole["observations"])
        assert api("GET", url, params={"after": str(last)}).json()["observations"] == []
        api(
            "POST",
            f"{filled.url}/v1/experiments/{filled.id}/observations",
            json={
                "assignments": {"x": 0.5, "lr": 0.1, "n": 2, "k": "rbf"},
                "values": [{"value": 3}],
            },
        ).raise_for_status()
        news = api("GET", url, params={"after": str(last)}).json()
        assert [o["values"]["accuracy"] for o in news["observations"]] == [3]
        assert news["observation_count"] == 9 and news["best"] == [news["observations"][0]["id"]]
        assert api("GET", url, params={"after": "x"}).status_code == 400

    def test_importances_say_how_many_count_until_there_are_some(
        self, threaded_service_url: str
    ) -> None:
        """Too few completed observations: no importances, and how many count so far (not
        the failed ones); enough: the importances, and no count."""
        few = fill(threaded_service_url, 8)
        body = api("GET", f"{few.url}/experiment/{few.id}/importances.json").json()
        assert few.failed > 0
        assert body["data"] == [] and body["completed_observations"] == few.count - few.failed
        many = fill(threaded_service_url, 40)
        body = api("GET", f"{many.url}/experiment/{many.id}/importances.json").json()
        assert [m["metric"] for m in body["data"]] == ["accuracy"]
        assert "completed_observations" not in body

    def test_static_files_are_cached_by_version(self, threaded_service_url: str) -> None:
        """plotly.min.js (from the plotly wheel) and our scripts: immutable at their
        versioned URL, revalidated without it; nothing else is served."""
        page = api("GET", f"{threaded_service_url}/experiment/1/analysis")
        assert page.status_code == 404  # no experiment yet: the scripts' URLs come from a page
        fill(threaded_service_url, 1)
        html = api("GET", f"{threaded_service_url}/experiment/1/analysis").text
        versioned = re.search(r'src="(/static/plotly\.min\.js\?v=[0-9a-f]+)"', html)
        assert versioned is not None
        js = api("GET", f"{threaded_service_url}{versioned.group(1)}")
        assert js.status_code == 200 and "plotly.js" in js.text[:200]
        assert "immutable" in js.headers["Cache-Control"]
        plain = api("GET", f"{threaded_service_url}/static/plotly.min.js")
        assert plain.headers["Cache-Control"] == "no-cache"
        assert api("GET", f"{threaded_service_url}/static/..%2Fgate.py").status_code == 404
        assert api("GET", f"{threaded_service_url}/static/gate.py").status_code == 404
