"""`orchestrator db copy` as a user runs it: a service process on a SQLite file makes the
history, the command (a real subprocess) copies it to PostgreSQL, and a service process
on the PostgreSQL database then answers every request about it exactly as the first one
did, and goes on from there with new ids."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.sigopt_service.store.copy_helpers import CONDITIONAL
from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.slow

#: What a resuming user or coordinator reads back about an experiment.
READS = ("", "/observations", "/suggestions?state=open", "/best_assignments")


def api(url: str, method: str = "GET", path: str = "", body: Any = None) -> Any:
    answer = requests.request(method, f"{url}/v1/experiments{path}", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def make_history(url: str) -> str:
    """A conditional experiment with observations (one failed), an open suggestion and
    a deleted one, through the API."""
    eid = str(api(url, "POST", body=CONDITIONAL)["id"])
    for i in range(4):
        suggestion = api(url, "POST", f"/{eid}/suggestions")
        if i == 3:
            continue  # stays open: the coordinator resumes it after the move
        observation: dict[str, Any] = {"suggestion": suggestion["id"]}
        if i == 1:
            observation["failed"] = True
        else:
            observation["values"] = [{"name": "y", "value": float(i)}]
        api(url, "POST", f"/{eid}/observations", observation)
    doomed = api(url, "POST", f"/{eid}/suggestions")
    api(url, "DELETE", f"/{eid}/suggestions/{doomed['id']}")
    return eid


def test_copied_history_serves_the_same(tmp_path: Path, postgres_url: str) -> None:
    """1. A service on service.db makes an experiment's history; it stops.
    2. `orchestrator db copy service.db` (DST from $ORCHESTRATOR_DB) exits 0.
    3. A service on the PostgreSQL database answers the experiment, its observations,
       its open suggestions and best assignments as the first one did.
    4. A new suggestion there gets the id after the copied ones."""
    source = tmp_path / "service.db"
    with ServiceProcess(source) as service:
        eid = make_history(service.url)
        before = {read: api(service.url, path=f"/{eid}{read}") for read in READS}
        assert service.terminate() == 0

    copied = subprocess.run(
        [sys.executable, "-m", "orchestrator", "db", "copy", str(source)],
        capture_output=True,
        text=True,
        env={**os.environ, "ORCHESTRATOR_DB": postgres_url, "NO_COLOR": "1"},
        timeout=120,
        check=False,
    )
    assert copied.returncode == 0, copied.stderr + copied.stdout
    assert "copied " in copied.stdout and f" to {postgres_url} in " in copied.stdout

    with ServiceProcess(postgres_url) as service:
        after = {read: api(service.url, path=f"/{eid}{read}") for read in READS}
        assert after == before
        assert after[""]["progress"]["observation_count"] == 3
        new = api(service.url, "POST", f"/{eid}/suggestions")
    # Four suggestions observed or open, a fifth deleted: the next id is the sixth.
    assert int(new["id"]) == 6
