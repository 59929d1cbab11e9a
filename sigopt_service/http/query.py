"""Query string and path values: booleans, page limits, paging markers, ids, sorts.

Each malformed value raises `InvalidRequest` whose message names the parameter.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import cast

from sigopt_service.errors import InvalidRequest
from sigopt_service.limits import MAX_ID
from sigopt_service.store import NAMED_OBSERVATION_SORTS, ObservationOrder, ObservationSortField
from sigopt_service.validation import parse_id as parse_record_id

MAX_PAGE_LIMIT = 1000
#: Integers in a query (timestamps, user ids) beyond this are refused: SQLite holds 64 bits.
MAX_QUERY_INT = 2**53
#: What `int()` would accept beyond plain ASCII digits ("1_000", " 7", "٣") is refused.
_INTEGER = re.compile(r"-?[0-9]{1,30}")


def parse_id(raw: int | str, what: str) -> int:
    """A record id in a query parameter; the error names the parameter."""
    return parse_record_id(raw, what, what)


def parse_bool(raw: str | None, name: str, default: bool = False) -> bool:
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise InvalidRequest(
        f"Invalid value for `{name}`: {raw!r:.60} is not a boolean",
        field=name,
        code="invalid_value",
    )


def parse_limit(raw: str | None, default: int = 100) -> int:
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        raise InvalidRequest(
            f"Invalid value for `limit`: {raw!r:.60} is not an integer",
            field="limit",
            code="invalid_value",
        )
    limit = int(raw)
    if limit < 0:
        raise InvalidRequest(
            f"Invalid value for `limit`: {limit} must be at least 0",
            field="limit",
            code="invalid_value",
        )
    if limit > MAX_PAGE_LIMIT:
        raise InvalidRequest(
            f"Exceeded maximum limit: {MAX_PAGE_LIMIT}", field="limit", code="invalid_value"
        )
    return limit


def encode_marker(item_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{item_id}".encode()).decode().rstrip("=")


def decode_marker(raw: str, name: str) -> int:
    """Markers are opaque to clients; ours are URL-safe base64 of the last id, unpadded."""
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        if not text.startswith("id:") or not _INTEGER.fullmatch(text[3:]):
            raise ValueError(raw)
        if not 0 <= int(text[3:]) <= MAX_ID:
            raise ValueError(raw)
        return int(text[3:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(
            f"Invalid value for `{name}`: {raw!r:.60} is not a paging marker",
            field=name,
            code="invalid_value",
        ) from None


def parse_id_list(raw: str | None, name: str) -> list[int] | None:
    if raw is None:
        return None
    ids = []
    for part in raw.split(","):
        if not part.strip():
            # `id=` or `id=1,,2`: a filter that names nothing is a mistake, not "all".
            raise InvalidRequest(
                f"Invalid value for `{name}`: {raw!r:.60} has an empty id (a comma-separated "
                "list of ids)",
                field=name,
                code="invalid_value",
            )
        try:
            ids.append(parse_id(part.strip(), name))
        except InvalidRequest:
            raise InvalidRequest(
                f"Invalid value for `{name}`: {part!r:.60} is not an id (a comma-separated "
                "list of ids)",
                field=name,
                code="invalid_value",
            ) from None
    return ids


def parse_int(raw: str | None, name: str) -> int | None:
    """An optional integer query value (`period_start`, `user`)."""
    if raw is None:
        return None
    if not _INTEGER.fullmatch(raw):
        raise InvalidRequest(
            f"Invalid value for `{name}`: {raw!r:.60} is not an integer",
            field=name,
            code="invalid_value",
        )
    value = int(raw)
    if abs(value) > MAX_QUERY_INT:
        raise InvalidRequest(
            f"Invalid value for `{name}`: {value} is out of range", field=name, code="invalid_value"
        )
    return value


#: The longest experiment-name search accepted (the OpenAPI document says the same).
MAX_SEARCH_LENGTH = 200


def parse_search(raw: str | None) -> str | None:
    """The experiments list's `search`: a name substring, at most `MAX_SEARCH_LENGTH`."""
    if raw is not None and len(raw) > MAX_SEARCH_LENGTH:
        raise InvalidRequest(
            f"Invalid value for `search`: longer than {MAX_SEARCH_LENGTH} characters",
            field="search",
            code="invalid_value",
        )
    return raw


#: The observation sorts taken without a name (`value` reads the first metric).
_PLAIN_OBSERVATION_SORTS = ("id", "timestamp", "value", "value_stddev", "task")
_OBSERVATION_SORTS_HELP = (
    "id, timestamp, value, value-METRIC, value_stddev, value_stddev-METRIC, parameter-NAME, task"
)


def parse_observation_sort(raw: str | None, ascending: bool) -> ObservationOrder:
    """The observation list's `sort`, as sigopt-server names its orders; anything else is
    a 400. Whether the named metric or parameter exists, and whether the experiment is
    multitask for `task`, is the use case's to check."""
    if raw is None or raw in _PLAIN_OBSERVATION_SORTS:
        return ObservationOrder(cast(ObservationSortField, raw or "id"), None, ascending)
    field, dash, name = raw.partition("-")
    if dash and name and field in NAMED_OBSERVATION_SORTS:
        return ObservationOrder(cast(ObservationSortField, field), name, ascending)
    raise InvalidRequest(
        f"Invalid sort: {raw:.60} ({_OBSERVATION_SORTS_HELP})", field="sort", code="invalid_value"
    )
