"""Page load: the analysis page of an experiment with 100, 1,000 and 10,000 observations.

Per level, a SQLite file is filled directly through the store (one batch, about 5% failed,
metadata as the orchestrator writes it) and served by the service as its own process
(`python -m sigopt_service`, 127.0.0.1). Measured:

- server time of the page's HTML (`GET /experiment/{id}/analysis`, the first request after
  start apart: it compiles the templates) and of the history JSON the charts read;
- in headless Chromium (Debian's, driven by Playwright), the time from navigation until
  every chart and the table are drawn (`body[data-charts-ready]`), with an empty browser
  cache (a first visit: plotly.min.js is fetched and parsed) and with a warm one, and
  until the parameter importances are shown.

Target: charts and table drawn in under 3 s at 10,000 observations (empty cache).
`python -m benchmarks.pages` prints the table; `run()` returns the numbers.
"""

from __future__ import annotations

import random
import statistics
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from benchmarks.common import markdown_table, quiet_logging
from benchmarks.engine_latency import _parameters
from sigopt_service.engine import Space
from sigopt_service.models import Metric, MetricEvaluation, Parameter
from sigopt_service.store import NewExperiment, NewObservation, SqliteStore
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.service_process import ServiceProcess

LEVELS = (100, 1000, 10000)
TARGET_S_AT_10000 = 3.0
BROWSER_RUNS = 3
SERVER_RUNS = 5
READY_TIMEOUT_MS = 60_000


def fill_database(db: Path, count: int, *, seed: int = 0) -> str:
    """A one-metric experiment with `count` observations; returns its id."""
    store = SqliteStore(db)
    try:
        parameters = [Parameter.model_validate(p) for p in _parameters("offline")]
        experiment = store.create_experiment(
            NewExperiment(
                name=f"pages benchmark ({count})",
                parameters=parameters,
                metrics=[Metric(name="value", objective="minimize")],
                observation_budget=count,
            )
        )
        space, rng = Space.from_parameters(parameters), random.Random(seed)
        new = []
        for i in range(count):
            metadata = {"run_id": "bench", "host": f"host-{i % 3}", "worker_slot": i % 8}
            if rng.random() < 0.05:
                new.append(
                    NewObservation(
                        assignments=space.random_assignments(rng),
                        failed=True,
                        metadata={**metadata, "failure_reason": "exit_status"},
                    )
                )
            else:
                new.append(
                    NewObservation(
                        assignments=space.random_assignments(rng),
                        values=[MetricEvaluation(name="value", value=rng.random())],
                        metadata={**metadata, "duration_s": rng.random()},
                    )
                )
        store.create_observations(int(experiment.id), new)
        return experiment.id
    finally:
        store.close()


def _get_s(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
    return time.perf_counter() - start


def _server_times(url: str) -> dict[str, float]:
    first = _get_s(url + "/analysis")
    warm = [_get_s(url + "/analysis") for _ in range(SERVER_RUNS)]
    history = [_get_s(url + "/history.json") for _ in range(SERVER_RUNS)]
    return {
        "html_first_ms": first * 1e3,
        "html_p50_ms": statistics.median(warm) * 1e3,
        "history_json_p50_ms": statistics.median(history) * 1e3,
    }


def _browser_times(browser: Any, url: str) -> dict[str, float]:
    """Seconds to charts and table drawn (empty cache, median of runs; then warm cache)
    and to importances shown."""
    cold, importances = [], []
    for _ in range(BROWSER_RUNS):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        start = time.perf_counter()
        page.goto(url + "/analysis")
        page.wait_for_selector("body[data-charts-ready=true]", timeout=READY_TIMEOUT_MS)
        page.wait_for_selector("#observations-table tbody tr", timeout=READY_TIMEOUT_MS)
        cold.append(time.perf_counter() - start)
        page.wait_for_selector("body[data-importances-ready=true]", timeout=READY_TIMEOUT_MS)
        importances.append(time.perf_counter() - start)
        start = time.perf_counter()
        page.reload()
        page.wait_for_selector("body[data-charts-ready=true]", timeout=READY_TIMEOUT_MS)
        warm = time.perf_counter() - start
        context.close()
    return {
        "charts_s": statistics.median(cold),
        "charts_warm_cache_s": warm,
        "importances_s": statistics.median(importances),
    }


def measure(levels: Sequence[int]) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    by_level: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = None
        if CHROMIUM.exists():
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for count in levels:
                with TemporaryDirectory(prefix="bench-pages-") as folder:
                    db = Path(folder) / "service.db"
                    eid = fill_database(db, count)
                    with ServiceProcess(db) as service:
                        url = f"{service.url}/experiment/{eid}"
                        row: dict[str, Any] = _server_times(url)
                        if browser is not None:
                            row |= _browser_times(browser, url)
                by_level[str(count)] = row
        finally:
            if browser is not None:
                browser.close()
    last = by_level.get("10000", {}).get("charts_s")
    return {
        "levels": by_level,
        "browser": "chromium" if CHROMIUM.exists() else None,
        "target_s_at_10000": TARGET_S_AT_10000,
        "meets_target": last is not None and last < TARGET_S_AT_10000,
    }


def run(*, levels: Sequence[int] = LEVELS) -> dict[str, Any]:
    """Server and browser load times of the analysis page per observation count."""
    return measure(levels)


def table(result: dict[str, Any]) -> str:
    rows = []
    for level, r in result["levels"].items():
        rows.append(
            [
                int(level),
                r["html_first_ms"],
                r["html_p50_ms"],
                r["history_json_p50_ms"],
                r.get("charts_s", "-"),
                r.get("charts_warm_cache_s", "-"),
                r.get("importances_s", "-"),
            ]
        )
    headers = [
        "observations",
        "HTML first ms",
        "HTML p50 ms",
        "history.json p50 ms",
        "charts + table s",
        "warm cache s",
        "importances s",
    ]
    verdict = "met" if result["meets_target"] else "MISSED"
    browser = result["browser"] or "no chromium: browser columns not measured"
    note = (
        f"\n\nTarget: charts and table drawn in < {result['target_s_at_10000']} s at 10,000 "
        f"observations with an empty browser cache: **{verdict}**. Browser: {browser}; "
        f"median of {BROWSER_RUNS} loads, each in a fresh context. Baseline of the server "
        "columns: the same page at 100 observations, same run."
    )
    return markdown_table(headers, rows) + note


if __name__ == "__main__":
    quiet_logging()
    print(table(run()))
