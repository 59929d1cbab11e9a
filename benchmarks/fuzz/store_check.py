"""Phase 3: every experiment loads through the API, and SQLite finds nothing wrong."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import requests

from benchmarks.fuzz.report import FuzzReport


def check_store(url: str, db: Path, report: FuzzReport) -> None:
    """Phase 3: every experiment loads through the API; SQLite finds nothing wrong."""
    http = requests.Session()

    def get(path: str) -> dict[str, Any] | None:
        resp = http.get(f"{url}/v1{path}", timeout=60)
        if resp.status_code != 200:
            report.store_problems.append(f"GET {path} -> {resp.status_code} {resp.text[:300]}")
            return None
        body: dict[str, Any] = resp.json()
        return body

    ids: list[str] = []
    page = get("/experiments?state=all&limit=100")
    while page is not None:
        ids += [e["id"] for e in page["data"]]
        marker = page["paging"]["before"]
        page = get(f"/experiments?state=all&limit=100&before={marker}") if marker else None
    for eid in ids:
        report.experiments_checked += 1
        get(f"/experiments/{eid}")
        get(f"/experiments/{eid}/best_assignments")
        get(f"/experiments/{eid}/stopping_criteria")
        for what in (
            "suggestions?deleted=false",
            "suggestions?deleted=true",  # the deleted ones only, as in SigOpt
            "observations?deleted=false",
            "observations?deleted=true",
        ):
            listing = get(f"/experiments/{eid}/{what}&limit=1000")
            if listing is not None and listing["count"] < len(listing["data"]):
                report.store_problems.append(f"{eid}/{what}: count below the page's length")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchall()
        if integrity != [("ok",)]:
            report.store_problems.append(f"integrity_check: {integrity[:5]}")
        foreign = conn.execute("PRAGMA foreign_key_check").fetchall()
        if foreign:
            report.store_problems.append(f"foreign_key_check: {foreign[:5]}")
        (count,) = conn.execute("SELECT COUNT(*) FROM experiments").fetchone()
        if count != len(ids):
            report.store_problems.append(f"{count} experiments stored, {len(ids)} listed")
