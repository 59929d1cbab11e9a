"""Phase 2: valid experiments with extreme spaces, then random operations on them."""

from __future__ import annotations

import math
import time
from typing import Any

import requests
from hypothesis import given
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from benchmarks.fuzz.report import MAX_RESPONSE_S, FuzzReport, _settings
from sigopt_service.limits import MAX_CATEGORY_NAME_LENGTH, MAX_INT_BOUND

_names = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    min_size=1,
    max_size=MAX_CATEGORY_NAME_LENGTH,
).filter(str.strip)  # a whitespace-only name is refused (issue 18): valid bodies only here
_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e-308, 5e-324, -1.7976931348623157e308, 1.7976931348623157e308]),
)


@st.composite
def _double(draw: st.DrawFn, name: str) -> dict[str, Any]:
    if draw(st.booleans()):  # log scale: min > 0
        low = draw(st.sampled_from([5e-324, 1e-300, 1e-8, 0.5, 1e10]))
        high = low * draw(st.sampled_from([1.0 + 1e-6, 10.0, 1e100])) + 1e-8
        return {
            "name": name,
            "type": "double",
            "bounds": {"min": low, "max": high},
            "transformation": "log",
        }
    low = draw(st.floats(min_value=-1e300, max_value=1e300))
    width = draw(st.sampled_from([1e-8, 1e-3, 1.0, 1e6, 1e300]))
    return {
        "name": name,
        "type": "double",
        "bounds": {"min": low, "max": low + max(width, 1e-8 * abs(low) * 4)},
    }


@st.composite
def _parameter(draw: st.DrawFn, name: str, grid: bool) -> dict[str, Any]:
    kind = draw(st.sampled_from(["double", "int", "categorical"]))
    if kind == "categorical":
        values = draw(st.lists(_names, min_size=2, max_size=30, unique=True))
        return {"name": name, "type": "categorical", "categorical_values": values}
    if grid:
        points: st.SearchStrategy[float] = (
            st.integers(-MAX_INT_BOUND, MAX_INT_BOUND).map(int)
            if kind == "int"
            else st.floats(min_value=-1e300, max_value=1e300)
        )
        grid_values = draw(st.lists(points, min_size=2, max_size=6, unique=True))
        return {"name": name, "type": kind, "grid": grid_values}
    if kind == "int":
        low = draw(st.integers(-MAX_INT_BOUND, MAX_INT_BOUND - 1))
        high = draw(st.integers(low + 1, MAX_INT_BOUND))
        return {"name": name, "type": "int", "bounds": {"min": low, "max": high}}
    return draw(_double(name))


@st.composite
def experiments(draw: st.DrawFn) -> dict[str, Any]:
    """A valid `POST /experiments` body with an extreme but legal space."""
    kind = draw(st.sampled_from(["offline", "random", "grid"]))
    names = draw(st.lists(_names, min_size=1, max_size=5, unique=True))
    metrics: list[dict[str, Any]] = [
        {"name": "m1", "objective": draw(st.sampled_from(["maximize", "minimize"]))}
    ]
    if draw(st.booleans()):
        metrics.append({"name": "m2", "strategy": draw(st.sampled_from(["optimize", "store"]))})
    parameters = [draw(_parameter(n, kind == "grid")) for n in names]
    budget = draw(st.integers(1, 40))
    if kind == "grid":  # SigOpt: a grid's budget is its size (an equal explicit one is fine)
        budget = math.prod(len(p.get("grid") or p["categorical_values"]) for p in parameters)
    return {
        "name": draw(_names),
        "type": kind,
        "parameters": parameters,
        "metrics": metrics,
        "observation_budget": budget,
        "parallel_bandwidth": draw(st.integers(1, 8)),
        "metadata": draw(
            st.dictionaries(
                st.text(max_size=20).filter(lambda k: "\x00" not in k),
                st.one_of(_values, st.booleans(), st.none()),
                max_size=5,
            )
        ),
    }


class _Client:
    """Sends a lifecycle step and records what the service answered."""

    def __init__(self, url: str, report: FuzzReport) -> None:
        self.url, self.report = url, report
        self.http = requests.Session()

    def __call__(
        self, method: str, path: str, body: Any = None, *, expect: tuple[int, ...] = (200,)
    ) -> dict[str, Any] | None:
        started = time.monotonic()
        resp = self.http.request(method, f"{self.url}/v1{path}", json=body, timeout=60)
        elapsed = time.monotonic() - started
        self.report.lifecycle_requests += 1
        self.report.statuses[resp.status_code] += 1
        shown = f"{method} {path} {str(body)[:1500]} -> {resp.status_code} {resp.text[:500]}"
        if elapsed > MAX_RESPONSE_S:
            self.report.fail("slow_answer", f"{elapsed:.1f} s: {shown}")
        if resp.status_code >= 500:
            self.report.fail("not_a_server_error", shown)
            return None
        if resp.status_code not in expect:
            self.report.fail("lifecycle_unexpected_status", shown)
            return None
        return resp.json() if resp.status_code == 200 else None


def fuzz_lifecycle(url: str, report: FuzzReport, *, examples: int, seed: int) -> None:
    """Phase 2: valid experiments with extreme spaces, then random operations on them."""
    call = _Client(url, report)

    @hypothesis_seed(seed)
    @_settings(examples)
    @given(body=experiments(), data=st.data())
    def one_experiment(body: dict[str, Any], data: st.DataObject) -> None:
        created = call("POST", "/experiments", body)
        if created is None:
            return
        exp = f"/experiments/{created['id']}"
        metrics = [m["name"] for m in created["metrics"]]
        open_ids: list[str] = []
        observed: list[str] = []
        for _ in range(data.draw(st.integers(1, 8))):
            action = data.draw(
                st.sampled_from(
                    [
                        "suggest",
                        "suggest",
                        "observe",
                        "observe",
                        "batch",
                        "update",
                        "delete",
                        "page",
                        "best",
                        "unobserve",
                    ]
                )
            )
            if action == "suggest":
                s = call("POST", f"{exp}/suggestions?within_budget=true", expect=(200, 409))
                if s is not None:
                    open_ids.append(s["id"])
            elif action == "observe" and open_ids:
                sid = open_ids.pop(data.draw(st.integers(0, len(open_ids) - 1)))
                if data.draw(st.booleans()):
                    obs = {"suggestion": sid, "failed": True}
                else:
                    obs = {
                        "suggestion": sid,
                        "values": [{"name": m, "value": data.draw(_values)} for m in metrics],
                    }
                o = call("POST", f"{exp}/observations", obs)
                if o is not None:
                    observed.append(o["id"])
            elif action == "batch":
                s = call("GET", f"{exp}/suggestions?state=open&limit=3")
                if s is not None and s["data"]:
                    items = [
                        {
                            "assignments": item["assignments"],
                            "values": [{"name": m, "value": data.draw(_values)} for m in metrics],
                        }
                        for item in s["data"]
                    ]
                    call("POST", f"{exp}/observations/batch", {"observations": items})
            elif action == "update":
                call(
                    "PUT",
                    exp,
                    {
                        "observation_budget": data.draw(st.integers(1, 100)),
                        "metadata": {"k": data.draw(_names)},
                    },
                )
            elif action == "delete" and open_ids:
                call("DELETE", f"{exp}/suggestions/{open_ids.pop()}")
            elif action == "unobserve" and observed:
                call("DELETE", f"{exp}/observations/{observed.pop()}")
            elif action == "page":
                what = data.draw(st.sampled_from(["suggestions", "observations"]))
                page = call("GET", f"{exp}/{what}?limit=1")
                while page is not None and page["paging"]["before"]:
                    page = call("GET", f"{exp}/{what}?limit=1&before={page['paging']['before']}")
            elif action == "best":
                call("GET", f"{exp}/best_assignments")
        call("GET", exp)
        if data.draw(st.booleans()):
            call("DELETE", exp)

    one_experiment()
