"""The analysis pages in a real headless Chromium, against the real service (SQLite file,
loopback) filled through its HTTP API: charts drawn from the experiment's data, the
table against the API, failures visible, user text inert, no request off the host, no
console error, live updates."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from sigopt_service.config import ServiceConfig
from sigopt_service.usecases import MIN_IMPORTANCE_OBSERVATIONS
from tests.sigopt_service.pages.conftest import WatchedPage, watch
from tests.sigopt_service.pages.fill import (
    XSS_NAME,
    XSS_REASON,
    Filled,
    api,
    api_observations,
    fill,
)
from tests.support.dashboard import BUDGET, DashboardProcess, orchestrator, urls, write_config

# Every browser test is in this module: its one browser (the module-scoped `browser`
# fixture) is closed before any other module's asyncio tests run.
pytestmark = pytest.mark.slow
TOKEN = "page-token-0123456789"

READY_TIMEOUT_MS = 30_000


def open_analysis(tab: WatchedPage, filled: Filled) -> None:
    tab.page.goto(filled.analysis)
    tab.page.wait_for_selector("body[data-charts-ready=true]", timeout=READY_TIMEOUT_MS)
    tab.page.wait_for_selector("body[data-importances-ready=true]", timeout=READY_TIMEOUT_MS)


def dataset(tab: WatchedPage, element_id: str) -> dict[str, str]:
    found: dict[str, str] = tab.page.evaluate(
        "id => Object.assign({}, document.getElementById(id).dataset)", element_id
    )
    return found


def plotted(tab: WatchedPage, element_id: str) -> list[dict[str, Any]]:
    """The traces Plotly drew into a chart: name and how many points each."""
    traces: list[dict[str, Any]] = tab.page.evaluate(
        """id => document.getElementById(id).data.map(
            t => ({name: t.name, points: (t.x || []).length}))""",
        element_id,
    )
    return traces


class TestAnalysisPage:
    def test_each_chart_draws_the_experiments_data(
        self, tab: WatchedPage, threaded_service_url: str
    ) -> None:
        """Improvement, history, parallel coordinates and importance show every completed
        and every failed observation, with no console error and no request off the host."""
        filled = fill(threaded_service_url, 60)
        completed = filled.count - filled.failed
        open_analysis(tab, filled)
        improvement = dataset(tab, "improvement-chart")
        assert improvement == {
            **improvement,
            "points": str(completed),
            "failed": str(filled.failed),
        }
        history = dataset(tab, "history-chart")
        assert history["points"] == str(completed) and history["failed"] == str(filled.failed)
        assert sum(t["points"] for t in plotted(tab, "history-chart")) == filled.count
        parallel = dataset(tab, "parallel-chart")
        assert parallel["axes"] == "5"  # 4 parameters, 1 metric
        assert parallel["lines"] == str(completed) and parallel["failed"] == str(filled.failed)
        assert tab.page.locator("#parallel-chart svg path.failed").count() == 1
        assert dataset(tab, "importance-chart")["metrics"] == "1"
        assert [t["points"] for t in plotted(tab, "importance-chart")] == [4]
        assert tab.errors == []
        assert tab.off_host(threaded_service_url) == []
        assert any("/static/plotly.min.js" in u for u in tab.requests)

    def test_table_and_csv_match_the_api(self, tab: WatchedPage, threaded_service_url: str) -> None:
        """The table counts what the API lists, shows a failed observation with its reason
        as text, and the CSV download has one row per API observation."""
        filled = fill(threaded_service_url, 30)
        listed = api_observations(filled)
        open_analysis(tab, filled)
        rows = tab.page.locator("#observations-table tbody tr")
        assert rows.count() == len(listed) == 30
        shown_ids = sorted(int(i) for i in rows.evaluate_all("rs => rs.map(r => r.dataset.id)"))
        assert shown_ids == sorted(int(o["id"]) for o in listed)
        failed = tab.page.locator("#observations-table tbody tr.failed")
        assert failed.count() == filled.failed
        assert XSS_REASON in failed.first.inner_text()
        csv = api("GET", f"{filled.url}/experiment/{filled.id}/historydownload").text
        assert len(csv.strip().splitlines()) == len(listed) + 1
        assert tab.errors == []

    def test_a_hostile_name_is_text(self, tab: WatchedPage, threaded_service_url: str) -> None:
        """An experiment name, a category and a failure reason made of markup run nothing
        on any page and show as the characters they are."""
        filled = fill(threaded_service_url, 20)
        for path in (
            "/experiments",
            f"/experiment/{filled.id}",
            f"/experiment/{filled.id}/analysis",
        ):
            tab.page.goto(f"{filled.url}{path}")
            tab.page.wait_for_load_state("load")
            assert tab.page.evaluate("window.__xss") is None
            assert tab.page.locator("main img").count() == 0
        open_analysis(tab, filled)
        # Hover texts hold the category and the failure reason: shown, and inert.
        tab.page.hover("#history-chart .scatterlayer .point", force=True)
        tab.page.wait_for_selector("#history-chart .hoverlayer .hovertext", timeout=5_000)
        assert tab.page.evaluate("window.__xss") is None
        assert tab.page.locator("h1").inner_text() == XSS_NAME
        assert tab.page.title().startswith(XSS_NAME)
        assert tab.errors == []

    def test_live_update_without_reload(self, tab: WatchedPage, threaded_service_url: str) -> None:
        """A new observation appears in the counts, the charts and the table within 10 s,
        fetched with `after=` (only what is new), and the page is never reloaded."""
        filled = fill(threaded_service_url, 12)
        open_analysis(tab, filled)
        tab.page.evaluate("window.__same_page = true")
        before = int(dataset(tab, "improvement-chart")["points"])
        suggestion = api("POST", f"{filled.url}/v1/experiments/{filled.id}/suggestions").json()
        tab.page.wait_for_selector(
            f'#suggestions-table tr[data-id="{suggestion["id"]}"]', timeout=10_000
        )
        start = time.monotonic()
        new = api(
            "POST",
            f"{filled.url}/v1/experiments/{filled.id}/observations",
            json={"suggestion": suggestion["id"], "values": [{"name": "accuracy", "value": 2.0}]},
        ).json()
        tab.page.wait_for_function(
            "n => document.querySelector('[data-live=observation_count]').textContent === n",
            arg=str(filled.count + 1),
            timeout=10_000,
        )
        tab.page.wait_for_selector(f'#observations-table tr[data-id="{new["id"]}"]', timeout=10_000)
        assert time.monotonic() - start < 10
        assert int(dataset(tab, "improvement-chart")["points"]) == before + 1
        assert tab.page.locator("#suggestions-table tr[data-id]").count() == 0
        assert tab.page.evaluate("window.__same_page") is True
        asked = [u for u in tab.requests if "history.json?after=" in u]
        assert asked and all(not u.endswith("history.json") for u in asked)
        assert tab.errors == []

    def test_importance_once_enough_observations(
        self, tab: WatchedPage, threaded_service_url: str
    ) -> None:
        """Before enough completed observations the section says how many it waits for;
        once they arrive (live), the chart is drawn."""
        filled = fill(threaded_service_url, 9)
        completed = filled.count - filled.failed
        assert completed < MIN_IMPORTANCE_OBSERVATIONS
        open_analysis(tab, filled)
        status = tab.page.locator("#importance-status").inner_text()
        assert f"once {MIN_IMPORTANCE_OBSERVATIONS} completed" in status
        assert f"({completed} so far)" in status
        for x in (0.1, 0.2):
            api(
                "POST",
                f"{filled.url}/v1/experiments/{filled.id}/observations",
                json={"assignments": {"x": x, "lr": 0.1, "n": 2, "k": "rbf"}, "value": x},
            ).raise_for_status()
        tab.page.wait_for_selector("#importance-chart[data-metrics='1']", timeout=10_000)
        assert "PED-ANOVA" in tab.page.locator("#importance-status").inner_text()
        assert tab.errors == []

    def test_a_failed_importance_read_stops_nothing(
        self, tab: WatchedPage, threaded_service_url: str
    ) -> None:
        """Should the importances fail to load, their section says so, and the page still
        keeps itself current."""
        filled = fill(threaded_service_url, 12)
        tab.page.route("**/importances.json", lambda route: route.fulfill(status=500, body="{}"))
        open_analysis(tab, filled)
        assert "could not be read" in tab.page.locator("#importance-status").inner_text()
        api(
            "POST",
            f"{filled.url}/v1/experiments/{filled.id}/observations",
            json={"assignments": {"x": 0.5, "lr": 0.1, "n": 2, "k": "rbf"}, "value": 1.0},
        ).raise_for_status()
        tab.page.wait_for_function(
            "n => document.querySelector('[data-live=observation_count]').textContent === n",
            arg=str(filled.count + 1),
            timeout=10_000,
        )


class TestParetoPage:
    def test_front_and_thresholds(self, tab: WatchedPage, threaded_service_url: str) -> None:
        """With two optimized metrics the Pareto front is the API's best_assignments, drawn
        with both thresholds."""
        filled = fill(threaded_service_url, 40, two_metrics=True)
        front = api("GET", f"{filled.url}/v1/experiments/{filled.id}/best_assignments").json()
        open_analysis(tab, filled)
        chart = dataset(tab, "pareto-chart")
        assert chart["front"] == str(front["count"]) and front["count"] > 0
        shapes = tab.page.evaluate("document.getElementById('pareto-chart').layout.shapes.length")
        assert shapes == 2
        assert tab.errors == []


class TestFeaturePages:
    def test_conditionals_and_tasks(self, tab: WatchedPage, threaded_service_url: str) -> None:
        """Issue 15: a conditional, multitask experiment draws the improvement over its
        full-cost observations only, and a parallel-coordinates axis for the conditional
        and the task besides the parameters and the metric."""
        x = {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}
        body = {
            "name": "features",
            "parameters": [x, {**x, "name": "depth", "conditions": {"arch": ["tree"]}}],
            "conditionals": [{"name": "arch", "values": ["mlp", "tree"]}],
            "tasks": [{"name": "cheap", "cost": 0.1}, {"name": "full", "cost": 1}],
            "observation_budget": 20,
        }
        eid = api("POST", f"{threaded_service_url}/v1/experiments", json=body).json()["id"]
        observations = [
            {
                "assignments": {"arch": "tree", "x": i / 10, "depth": 0.5}
                if i % 2
                else {"arch": "mlp", "x": i / 10},
                "values": [{"value": i}],
                "task": "full" if i % 3 == 0 else "cheap",
            }
            for i in range(9)
        ]
        batch = {"observations": observations}
        api("POST", f"{threaded_service_url}/v1/experiments/{eid}/observations/batch", json=batch)
        open_analysis(tab, Filled(url=threaded_service_url, id=str(eid), count=9, failed=0))
        improvement = dataset(tab, "improvement-chart")
        assert (improvement["points"], improvement["cheaper"]) == ("3", "6")
        parallel = dataset(tab, "parallel-chart")
        assert parallel["axes"] == "5"  # arch, task, depth, x, the metric
        assert parallel["lines"] == "9"
        assert tab.errors == []


class TestDashboard:
    def test_finished_run_folder(self, tab: WatchedPage, tmp_path: Path) -> None:
        """`orchestrator dashboard RUN_DIR --port 0` after a run (its embedded service
        gone): the page it prints draws the run's observations, failed ones included,
        with no console error and no request off its host."""
        config = write_config(tmp_path)
        done = orchestrator("run", config)
        assert done.returncode == 0, done.stdout + done.stderr
        dashboard = DashboardProcess(tmp_path / "runs/d", "--port", "0")
        try:
            base, eid = urls(dashboard.until_serving())
            filled = Filled(url=base, id=eid, count=BUDGET, failed=BUDGET // 2)
            open_analysis(tab, filled)
            improvement = dataset(tab, "improvement-chart")
            assert improvement["failed"] == str(filled.failed)
            assert improvement["points"] == str(filled.count - filled.failed)
            rows = tab.page.locator("#observations-table tbody tr")
            assert rows.count() == filled.count
            assert tab.page.locator("#observations-table tbody tr.failed").count() == filled.failed
            assert tab.errors == []
            assert tab.off_host(base) == []
        finally:
            dashboard.kill()


class TestSignIn:
    @pytest.fixture
    def service_config(self, tmp_path: Path) -> ServiceConfig:
        return ServiceConfig(port=0, db=tmp_path / "service.db", tokens=(TOKEN,))

    def test_browser_signs_in_with_the_form(
        self, browser: Browser, threaded_service_url: str
    ) -> None:
        """A browser is sent to the form, refused with a wrong token, let in with the right
        one onto the page it asked for; with HTTP Basic credentials it goes straight in."""
        url = threaded_service_url
        filled = fill(url, 12, auth=(TOKEN, ""))
        context = browser.new_context()
        try:
            tab = watch(context.new_page())
            tab.page.goto(filled.analysis)
            assert "/login?next=" in tab.page.url
            tab.page.fill("input[name=token]", "wrong")
            tab.page.click("button[type=submit]")
            assert "Unknown token" in tab.page.locator("main").inner_text()
            tab.page.fill("input[name=token]", TOKEN)
            tab.page.click("button[type=submit]")
            tab.page.wait_for_selector("body[data-charts-ready=true]", timeout=30_000)
            assert tab.page.url == filled.analysis
            [cookie] = context.cookies()
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert cookie["value"] != TOKEN
        finally:
            context.close()
        # As a browser sends HTTP Basic once it has the credentials (no page challenges:
        # a browser without them is shown the form instead).
        basic_header = "Basic " + base64.b64encode(f"{TOKEN}:".encode()).decode()
        basic = browser.new_context(extra_http_headers={"Authorization": basic_header})
        try:
            page = basic.new_page()
            page.goto(filled.analysis)
            page.wait_for_selector("body[data-charts-ready=true]", timeout=30_000)
            assert page.url == filled.analysis
        finally:
            basic.close()

    def test_tokens_page_in_the_browser(self, browser: Browser, threaded_service_url: str) -> None:
        """Signed in with the admin token, the header links to the tokens page; its form
        (a real browser's same-origin post) makes a token and shows its secret once, which
        then reads the API; the Revoke button revokes it. No console error (CSP)."""
        url = threaded_service_url
        context = browser.new_context()
        try:
            tab = watch(context.new_page())
            tab.page.goto(f"{url}/experiments")
            tab.page.fill("input[name=token]", TOKEN)
            tab.page.click("button[type=submit]")
            tab.page.click("header a.tokens")
            assert tab.page.url == f"{url}/tokens"
            tab.page.fill("#create input[name=name]", "from the browser")
            tab.page.select_option("#create select[name=permissions]", "read")
            tab.page.fill("#create input[name=expires]", "2d")
            tab.page.click("#create button[type=submit]")
            secret = tab.page.locator("#secret").inner_text().strip()
            assert len(secret) >= 40 and "read-only" in tab.page.locator("#tokens").inner_text()
            assert api("GET", f"{url}/v1/experiments", auth=(secret, "")).status_code == 200
            tab.page.click("#tokens button[type=submit]")
            assert tab.page.url == f"{url}/tokens"
            assert "No stored tokens yet" in tab.page.locator("main").inner_text()
            assert api("GET", f"{url}/v1/experiments", auth=(secret, "")).status_code == 401
            assert tab.errors == []
        finally:
            context.close()
