"""Fuzz the service from its own OpenAPI document, then check the store is unharmed.

```
python -m benchmarks.fuzz                         # thousands of cases (the soak's run)
python -m benchmarks.fuzz --cases 8 --lifecycle 25 --seed 1   # what `make test` runs
```
Three phases against the real service (SQLite file, loopback, its own thread):

1. **schemathesis**: every operation of `/v1/openapi.json`, schema-valid and
   schema-violating requests; path ids drawn half from seeded experiments, suggestions and
   observations (so requests reach the handlers, not only the 404), half at random. Checks:
   no 5xx, the status and the body are documented, schema-violating data is refused,
   no answer slower than `MAX_RESPONSE_S`.
2. **lifecycle**: hypothesis builds valid experiments with extreme spaces (bounds near
   +-1e300, widths of 1e-8, log scales, 2^53 ints, 50-character unicode categories,
   grids), then suggests, observes (extreme values, failures, batches), updates, deletes
   and pages at random. Every step must answer 200 or a documented 4xx, never a 5xx.
3. **store check**: every experiment still loads with its suggestions, observations and
   best assignments, and SQLite's `integrity_check` and `foreign_key_check` pass.

The exit status is 1 if any check failed; each failure prints a curl command to replay it.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import structlog
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from sigopt_service.config import ServiceConfig
from sigopt_service.http import running_service
from sigopt_service.limits import MAX_CATEGORY_NAME_LENGTH, MAX_INT_BOUND

#: A request slower than this counts as a hang.
MAX_RESPONSE_S = 5.0
#: Examples of each failure kept for the report.
EXAMPLES_PER_CHECK = 3


@dataclass
class FuzzReport:
    cases: int = 0
    lifecycle_requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    #: check name -> how many times it failed, and a few examples (with a curl command).
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    experiments_checked: int = 0
    store_problems: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.store_problems

    def fail(self, check: str, example: str) -> None:
        self.failures[check] += 1
        if len(self.examples[check]) < EXAMPLES_PER_CHECK:
            self.examples[check].append(example[:2000])

    def summary(self) -> str:
        server_errors = sum(n for status, n in self.statuses.items() if status >= 500)
        lines = [
            "| metric | value |",
            "|---|---|",
            f"| schemathesis cases | {self.cases} |",
            f"| lifecycle requests | {self.lifecycle_requests} |",
            f"| 5xx answers | {server_errors} |",
            f"| statuses | {dict(sorted(self.statuses.items()))} |",
            f"| failed checks | {dict(self.failures) or 0} |",
            f"| experiments reloaded | {self.experiments_checked} |",
            f"| store problems | {len(self.store_problems)} |",
            f"| wall time | {self.elapsed_s:.1f} s |",
        ]
        for check, examples in self.examples.items():
            lines.append(f"\n### {check}\n")
            lines.extend(f"```\n{e}\n```" for e in examples)
        lines.extend(f"- store: {p}" for p in self.store_problems)
        return "\n".join(lines)


# ---------------------------------------------------------------------------- seeding
@dataclass(frozen=True)
class Seeded:
    """Ids that exist, so generated requests reach the handlers' logic."""

    experiments: list[str]
    #: (experiment, suggestion, observation) triples of one experiment.
    triples: list[tuple[str, str, str]]


SEED_PARAMETERS: list[dict[str, Any]] = [
    {"name": "x", "type": "double", "bounds": {"min": -1.0, "max": 1.0}},
    {"name": "lr", "type": "double", "bounds": {"min": 1e-6, "max": 1.0}, "transformation": "log"},
    {"name": "n", "type": "int", "bounds": {"min": 1, "max": 50}},
    {"name": "c", "type": "categorical", "categorical_values": ["a", "b", "Ω 😀"]},
]


def seed_data(http: requests.Session, url: str) -> Seeded:
    bodies: list[dict[str, Any]] = [
        {"name": "seed offline", "parameters": SEED_PARAMETERS, "observation_budget": 30},
        {
            "name": "seed two metrics",
            "type": "random",
            "parameters": SEED_PARAMETERS[:2],
            "metrics": [{"name": "a"}, {"name": "b", "objective": "minimize"}],
            "observation_budget": 10,
        },
        {
            "name": "seed grid",
            "type": "grid",
            "parameters": [{"name": "g", "type": "int", "grid": [1, 2, 3]}],
            "observation_budget": 3,
        },
    ]
    experiments, triples = [], []
    for body in bodies:
        resp = http.post(f"{url}/v1/experiments", json=body, timeout=30)
        resp.raise_for_status()
        eid = resp.json()["id"]
        experiments.append(eid)
        metrics = [m["name"] for m in resp.json()["metrics"]]
        for k in range(3):
            sid = http.post(f"{url}/v1/experiments/{eid}/suggestions", timeout=30).json()["id"]
            values = [{"name": m, "value": float(k)} for m in metrics]
            obs = http.post(
                f"{url}/v1/experiments/{eid}/observations",
                json={"suggestion": sid, "values": values},
                timeout=30,
            ).json()["id"]
            open_sid = http.post(f"{url}/v1/experiments/{eid}/suggestions", timeout=30).json()
            triples.append((eid, sid, obs))
            triples.append((eid, open_sid["id"], obs))
    return Seeded(experiments, triples)


# ---------------------------------------------------------------------------- schemathesis
def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        negative_data_rejection,
    ]


def _settings(max_examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        # No shrinking: a failure is recorded (with its curl command), not raised.
        phases=[Phase.explicit, Phase.generate],
        print_blob=False,
    )


def fuzz_operations(url: str, seeded: Seeded, report: FuzzReport, *, cases: int, seed: int) -> None:
    """Phase 1: `cases` schema-valid and `cases` schema-violating requests per operation."""
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{url}/v1/openapi.json")
    checks = _checks()
    http = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # raises on a bad operation
        names = [p.name for p in operation.path_parameters]
        known = [
            dict(zip(names, triple, strict=False))
            for triple in {t[: len(names)] for t in seeded.triples}
        ]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies = [operation.as_strategy(generation_mode=mode)]
            if names:
                fixed = [
                    operation.as_strategy(generation_mode=mode, path_parameters=ids)
                    for ids in known
                ]
                strategies = [st.one_of(fixed), *strategies]

            @hypothesis_seed(seed)
            @_settings(cases)
            @given(case=st.one_of(strategies))
            def one_case(case: Any) -> None:
                report.cases += 1
                started = time.monotonic()
                try:
                    response = case.call(base_url=url, session=http, timeout=MAX_RESPONSE_S * 4)
                except requests.RequestException as exc:
                    report.fail(
                        "no_answer", f"{case.operation.label}: {exc!r}\n{case.as_curl_command()}"
                    )
                    return
                elapsed = time.monotonic() - started
                report.statuses[response.status_code] += 1
                if elapsed > MAX_RESPONSE_S:
                    report.fail("slow_answer", f"{elapsed:.1f} s: {case.as_curl_command()}")
                for check in checks:
                    try:
                        case.validate_response(response, checks=[check])
                    except Exception as exc:  # a FailureGroup names the check and a curl
                        report.fail(check.__name__, str(exc))

            one_case()


# ---------------------------------------------------------------------------- lifecycle
_names = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    min_size=1,
    max_size=MAX_CATEGORY_NAME_LENGTH,
)
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
        grid_values = draw(st.lists(points, min_size=1, max_size=6, unique=True))
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
    return {
        "name": draw(_names),
        "type": kind,
        "parameters": [draw(_parameter(n, kind == "grid")) for n in names],
        "metrics": metrics,
        "observation_budget": draw(st.integers(1, 40)),
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


# ---------------------------------------------------------------------------- store check
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
        for what in ("suggestions?deleted=true", "observations?deleted=true"):
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


# ---------------------------------------------------------------------------- driver
@contextmanager
def threaded_service(db: Path) -> Iterator[str]:
    """The real service (SQLite at `db`) on a free loopback port, in its own thread."""
    config = ServiceConfig(port=0, db=db, seed=0)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(running_service(config)) as url,
    ):
        yield url


def run_fuzz(*, cases: int, lifecycle: int, seed: int, workdir: Path | None = None) -> FuzzReport:
    """All three phases against a fresh service; `cases` per operation and per mode."""
    report = FuzzReport()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        db = (workdir or Path(tmp)) / "service.db"
        with threaded_service(db) as url:
            seeded = seed_data(requests.Session(), url)
            fuzz_operations(url, seeded, report, cases=cases, seed=seed)
            fuzz_lifecycle(url, report, examples=lifecycle, seed=seed)
            check_store(url, db, report)
    report.elapsed_s = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fuzz", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cases", type=int, default=100, help="cases per operation and mode")
    parser.add_argument("--lifecycle", type=int, default=300, help="lifecycle experiments")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    print(
        f"fuzzing with seed {seed}: {args.cases} cases per operation and mode, "
        f"{args.lifecycle} lifecycle experiments",
        flush=True,
    )
    report = run_fuzz(cases=args.cases, lifecycle=args.lifecycle, seed=seed)
    print(report.summary())
    print("PASS" if report.ok else f"FAIL (replay with --seed {seed})")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
