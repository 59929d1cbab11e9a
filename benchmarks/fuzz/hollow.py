"""Phase 1b: hollow values in valid bodies, exhaustively.

Start from one valid body of every write operation and derive, for every place in it:
each string (a value, a list item) replaced by `""`, `" "` and `"\\t\\n"`; every other
value by `""` and `" "`; each list replaced by `null`, by `[]`, and given a `null` item
(first and last); each object replaced by `null` and by `{}`. Every variant is sent once.
The answer must be a 2xx or a 4xx, never a 5xx (`metrics: [""]` escaped as a pydantic
error and a 500: issue 18, the class of bug this phase is for), and a 400 names its field.
Deterministic: no seed, the same requests every run.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from benchmarks.fuzz.report import MAX_RESPONSE_S, FuzzReport

#: What replaces a string: empty and whitespace-only.
HOLLOW_STRINGS = ("", " ", "\t\n")

Path = tuple[str | int, ...]


def _places(body: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every (path, value) of `body`, the root excluded, depth first."""
    if isinstance(body, dict):
        for key, value in body.items():
            yield (*path, key), value
            yield from _places(value, (*path, key))
    elif isinstance(body, list):
        for i, value in enumerate(body):
            yield (*path, i), value
            yield from _places(value, (*path, i))


def _set(body: Any, path: Path, value: Any) -> Any:
    out = copy.deepcopy(body)
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return out


def hollow_variants(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what was changed, the changed body) for every hollow value of `body`; lists at the
    top level of the body count too."""
    for path, value in _places(body):
        where = ".".join(str(p) for p in path)
        if isinstance(value, str):
            for hollow in HOLLOW_STRINGS:
                yield f"{where}={hollow!r}", _set(body, path, hollow)
        else:  # a string where something else belongs (`metrics: [""]`, issue 18)
            for hollow in HOLLOW_STRINGS[:2]:
                yield f"{where}={hollow!r}", _set(body, path, hollow)
        if isinstance(value, list):
            yield f"{where}=null", _set(body, path, None)
            yield f"{where}=[]", _set(body, path, [])
            yield f"{where}=[null, ...]", _set(body, path, [None, *value])
            if value:
                yield f"{where}=[..., null]", _set(body, path, [*value, None])
        elif isinstance(value, dict):
            yield f"{where}=null", _set(body, path, None)
            yield f"{where}={{}}", _set(body, path, {})


def _experiment_body() -> dict[str, Any]:
    return {
        "name": "hollow",
        "type": "offline",
        "project": "hollow-project",
        "parameters": [
            {
                "name": "x",
                "type": "double",
                "bounds": {"min": 0.0, "max": 1.0},
                "default_value": 0.5,
            },
            {"name": "n", "type": "int", "bounds": {"min": 1, "max": 9}},
            {"name": "c", "type": "categorical", "categorical_values": ["a", "b"]},
            {"name": "g", "type": "double", "grid": [0.1, 0.2, 0.3]},
        ],
        "metrics": [
            {"name": "m", "objective": "maximize", "strategy": "optimize"},
            {"name": "s", "strategy": "constraint", "threshold": 1.0},
        ],
        "observation_budget": 10,
        "parallel_bandwidth": 2,
        "metadata": {"k": "v"},
    }


def _operations(url: str, http: requests.Session) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, url, valid body) of every write operation, on one fresh experiment."""
    created = http.post(f"{url}/v1/experiments", json=_experiment_body(), timeout=30)
    created.raise_for_status()
    exp = f"{url}/v1/experiments/{created.json()['id']}"
    suggestion = http.post(f"{exp}/suggestions", json={}, timeout=30).json()
    assignments = suggestion["assignments"]
    values: list[dict[str, Any]] = [
        {"name": "m", "value": 1.0, "value_stddev": 0.1},
        {"name": "s", "value": 0.5},
    ]
    observation = http.post(
        f"{exp}/observations", json={"assignments": assignments, "values": values}, timeout=30
    ).json()
    observe = {
        "assignments": assignments,
        "values": values,
        "metadata": {"k": "v"},
        "next_suggestion": {"metadata": {"k": "v"}},
    }
    return [
        ("POST", f"{url}/v1/experiments", _experiment_body()),
        (
            "PUT",
            exp,
            {
                "name": "renamed",
                "parameters": _experiment_body()["parameters"],
                "metrics": [
                    {"name": "m", "objective": "maximize"},
                    {"name": "s", "threshold": 2.0},
                ],
                "observation_budget": 12,
                "metadata": {"k": "w"},
            },
        ),
        ("POST", f"{exp}/suggestions", {"assignments": assignments, "metadata": {"k": "v"}}),
        ("PUT", f"{exp}/suggestions/{suggestion['id']}", {"metadata": {"k": "v"}}),
        ("POST", f"{exp}/observations", observe),
        (
            "POST",
            f"{exp}/observations/batch",
            {
                "observations": [
                    {"assignments": assignments, "values": values, "metadata": {"k": "v"}}
                ]
            },
        ),
        (
            "PUT",
            f"{exp}/observations/{observation['id']}",
            {"values": values, "failed": False, "metadata": {"k": "v"}},
        ),
    ]


def fuzz_hollow(
    url: str, report: FuzzReport, *, progress: Callable[[str], None] | None = None
) -> None:
    """Phase 1b: every hollow variant of every write operation's valid body, once."""
    http = requests.Session()
    for method, target, body in _operations(url, http):
        for what, variant in hollow_variants(body):
            report.hollow_requests += 1
            started = time.monotonic()
            try:
                resp = http.request(method, target, json=variant, timeout=MAX_RESPONSE_S * 4)
            except requests.RequestException as exc:
                report.fail("no_answer", f"{method} {target} ({what}): {exc!r}")
                continue
            report.statuses[resp.status_code] += 1
            shown = (
                f"{method} {target} ({what}) {str(variant)[:1000]} -> "
                f"{resp.status_code} {resp.text[:300]}"
            )
            if time.monotonic() - started > MAX_RESPONSE_S:
                report.fail("slow_answer", shown)
            if resp.status_code >= 500:
                report.fail("hollow_not_a_server_error", shown)
            elif resp.status_code >= 400 and not _names_a_field(resp):
                report.fail("hollow_error_without_field", shown)
        if progress is not None:
            progress(f"{method} {target}")


def _names_a_field(resp: requests.Response) -> bool:
    """A 400 must name the field it is about (every invalid body names its field); other
    4xx (404, 409) need not."""
    if resp.status_code != 400:
        return True
    try:
        return bool(resp.json().get("field"))
    except ValueError:
        return False
