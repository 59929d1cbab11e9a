"""Phase 1: seeded ids, then schemathesis over every operation of the OpenAPI document."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests
from hypothesis import given
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from benchmarks.fuzz.report import MAX_RESPONSE_S, FuzzReport, _settings


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
                    # A FailureGroup (a BaseExceptionGroup) names the check and a curl.
                    except (Exception, BaseExceptionGroup) as exc:
                        report.fail(check.__name__, str(exc))

            try:
                one_case()
            except Unsatisfiable:
                # Only negative mode can run dry: `GET /v1/organizations` has no parameter
                # or body to make invalid. Positive mode always has a case to send.
                if mode is not GenerationMode.NEGATIVE:
                    raise
                report.no_negative_cases.append(operation.label)
