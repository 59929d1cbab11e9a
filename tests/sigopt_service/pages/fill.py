"""Experiments for the page tests, made and filled through the HTTP API (as any SigOpt
client would), with failures, metadata and user-written text that must stay text."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import requests

#: Runs `window.__xss = 1` if any page ever treats it as markup.
XSS_NAME = "<img src=x onerror=window.__xss=1>"
XSS_REASON = "<script>window.__xss=2</script>"
XSS_CATEGORY = "<b onmouseover=window.__xss=3>bold</b>"
PARAMETERS = [
    {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
    {"name": "lr", "type": "double", "bounds": {"min": 1e-5, "max": 1}, "transformation": "log"},
    {"name": "n", "type": "int", "bounds": {"min": 1, "max": 10}},
    {"name": "k", "type": "categorical", "categorical_values": ["rbf", XSS_CATEGORY]},
]
ONE_METRIC = [{"name": "accuracy", "objective": "maximize"}]
TWO_METRICS = [
    {"name": "accuracy", "objective": "maximize", "threshold": 0.5},
    {"name": "cost", "objective": "minimize", "threshold": 0.9},
]
#: Every FAIL_EVERY-th observation (from the 5th) fails.
FAIL_EVERY = 9


@dataclass(frozen=True)
class Filled:
    url: str  # the service's base URL
    id: str  # the experiment's
    count: int
    failed: int

    @property
    def analysis(self) -> str:
        return f"{self.url}/experiment/{self.id}/analysis"


def api(
    method: str, url: str, *, auth: tuple[str, str] | None = None, **kwargs: Any
) -> requests.Response:
    return requests.request(method, url, auth=auth, timeout=30, **kwargs)


def observation(i: int, rng: random.Random, *, two: bool) -> dict[str, Any]:
    k = rng.choice(["rbf", XSS_CATEGORY])
    a = {"x": rng.random(), "lr": math.exp(rng.uniform(math.log(1e-5), 0)), "n": 1 + i % 10}
    assignments = {**a, "k": k}
    if i % FAIL_EVERY == 4:
        return {
            "assignments": assignments,
            "failed": True,
            "metadata": {"failure_reason": XSS_REASON, "host": "h1"},
        }
    values = [{"name": "accuracy", "value": 1 - (a["x"] - 0.3) ** 2, "value_stddev": 0.01}]
    if two:
        values.append({"name": "cost", "value": a["x"] + 0.1 * rng.random()})
    return {
        "assignments": assignments,
        "values": values,
        "metadata": {"host": f"h{i % 3}", "worker_slot": i % 4},
    }


def fill(
    url: str,
    count: int,
    *,
    two_metrics: bool = False,
    name: str = XSS_NAME,
    auth: tuple[str, str] | None = None,
    seed: int = 0,
) -> Filled:
    body = {
        "name": name,
        "parameters": PARAMETERS,
        "metrics": TWO_METRICS if two_metrics else ONE_METRIC,
        "observation_budget": count + 10,
    }
    created = api("POST", f"{url}/v1/experiments", json=body, auth=auth)
    created.raise_for_status()
    eid = created.json()["id"]
    rng = random.Random(seed)
    observations = [observation(i, rng, two=two_metrics) for i in range(count)]
    for start in range(0, count, 2500):
        batch = {"observations": observations[start : start + 2500]}
        sent = api("POST", f"{url}/v1/experiments/{eid}/observations/batch", json=batch, auth=auth)
        sent.raise_for_status()
    failed = sum(1 for o in observations if o.get("failed"))
    return Filled(url=url, id=eid, count=count, failed=failed)


def api_observations(filled: Filled, auth: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """Every observation, as the API lists them (following its paging)."""
    out: list[dict[str, Any]] = []
    before = None
    while True:
        params = {"limit": "1000", **({"before": before} if before else {})}
        page = api(
            "GET", f"{filled.url}/v1/experiments/{filled.id}/observations", params=params, auth=auth
        ).json()
        out += page["data"]
        before = page["paging"]["before"]
        if not before:
            return out
