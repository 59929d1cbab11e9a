"""The query of a training run listing (sigopt-server's `training_runs/list.py`):
`filters` (a JSON array of `{"field", "operator", "value"}`), `search`, `sort` (a field of
`RUN_FIELDS`, newest first unless `ascending`), and paging.

Each malformed part raises `InvalidRequest` naming it: `filters[1].operator`.
"""

from __future__ import annotations

import json
import math
from typing import Any, cast

from aiohttp import web

from sigopt_service.errors import InvalidRequest
from sigopt_service.http.query import parse_bool, parse_search
from sigopt_service.run_models import RunState
from sigopt_service.store import RUN_FILTER_OPERATORS, RunFilter, RunFilterOperator, RunListing
from sigopt_service.store import field_kind as run_field_kind

MAX_FILTERS = 50
MAX_FILTERS_LENGTH = 10_000


def _refused(field: str, detail: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid value for `{field}`: {detail}", field=field, code="invalid_value"
    )


def _field(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or run_field_kind(raw) is None:
        raise _refused(where, f"{raw!r:.60} is not a field of a training run")
    return raw


def _typed(kind: str, value: Any, where: str) -> Any:
    """The filter value as the field holds it (ids as ints, states by name)."""
    if kind == "id":
        text = str(value)
        if isinstance(value, bool) or not text.isascii() or not text.isdigit():
            raise _refused(where, f"{value!r:.40} is not an id")
        return int(text)
    if kind in ("int", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refused(where, f"{value!r:.40} is not a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise _refused(where, f"{value!r:.40} is not a finite number")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise _refused(where, f"{value!r:.40} is not a boolean")
        return value
    if kind == "text" and not isinstance(value, str):
        raise _refused(where, f"{value!r:.40} is not a string")
    if kind == "state" and value not in {s.value for s in RunState}:
        raise _refused(where, f"Invalid state: {value!r:.40}")
    return value


def parse_filters(raw: str | None) -> tuple[RunFilter, ...]:
    if raw is None:
        return ()
    if len(raw) > MAX_FILTERS_LENGTH:
        raise _refused("filters", f"longer than {MAX_FILTERS_LENGTH} characters")
    try:
        items = json.loads(raw)
    except ValueError:
        raise _refused("filters", "Could not parse JSON for filters") from None
    if not isinstance(items, list) or len(items) > MAX_FILTERS:
        raise _refused("filters", f"expected a JSON array of at most {MAX_FILTERS} filters")
    parsed = []
    for i, item in enumerate(items):
        where = f"filters[{i}]"
        if not isinstance(item, dict) or set(item) - {"field", "operator", "value"}:
            raise _refused(where, "expected an object of `field`, `operator`, `value`")
        name = _field(item.get("field"), f"{where}.field")
        operator = item.get("operator")
        if operator not in RUN_FILTER_OPERATORS:
            raise _refused(f"{where}.operator", f"Invalid operator: {operator!r:.20}")
        kind = cast(str, run_field_kind(name))
        if kind == "state" and operator != "==":
            raise _refused(f"{where}.operator", "only `==` is supported for `state`")
        value = None
        if operator != "isnull":
            if "value" not in item:
                raise _refused(f"{where}.value", "a value is required")
            value = _typed(kind, item["value"], f"{where}.value")
            if isinstance(value, bool | None) and operator not in ("==", "!="):
                raise _refused(where, f"cannot compare {value!r} with `{operator}`")
        parsed.append(RunFilter(name, cast(RunFilterOperator, operator), value))
    return tuple(parsed)


def parse_run_listing(request: web.Request, *, ascending: bool) -> RunListing:
    """`filters`, `search`, `sort` (default `id`) and `ascending` (or `after` paging)."""
    q = request.query
    sort = q.get("sort", "id")
    _field(sort, "sort")
    return RunListing(
        filters=parse_filters(q.get("filters")),
        search=parse_search(q.get("search")),
        sort=sort,
        ascending=ascending or parse_bool(q.get("ascending"), "ascending"),
    )
