"""Request body parsing: raw bytes in, a JSON object out, or `InvalidRequest` (400) /
`UnsupportedMediaType` (415).

Checks the content type and charset, UTF-8, NaN and infinity literals, huge integers,
nesting depth and NUL characters, before any model sees the body.
"""

from __future__ import annotations

import json
from typing import Any

from sigopt_service.errors import InvalidRequest, UnsupportedMediaType
from sigopt_service.validation import key_path

#: No valid body nests deeper than 4 levels (a batch's observation's values); anything far
#: deeper is an attack on the parser or on whatever walks the result recursively.
MAX_JSON_DEPTH = 32
#: The largest JSON integer kept as an int (SQLite's INTEGER); see `_parse_int`.
MAX_JSON_INT = 2**63 - 1
#: Content types read as JSON: SigOpt's (JSON, form-encoded, none, which aiohttp reports as
#: octet-stream) plus text/plain, which aiohttp's client sends for a string body.
JSON_CONTENT_TYPES = frozenset(
    {
        "application/json",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
        "text/plain",
    }
)
JSON_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def _reject_constant(name: str) -> Any:
    raise InvalidRequest(
        f"Invalid json in request body: {name} is not a valid number", code="invalid_json"
    )


def _parse_int(text: str) -> int | float:
    """Integers past 2^63 become floats (infinite past ~1e308): an int field then refuses
    them by name, a number field's finiteness check names them, and no later `float()` or
    database write overflows (a 500). Also sidesteps Python's 4300-digit limit on int()."""
    digits = len(text.lstrip("-"))
    if digits < 19 or (digits == 19 and abs(int(text)) <= MAX_JSON_INT):
        return int(text)
    return float(text)


def check_content_type(content_type: str, charset: str | None) -> None:
    """Refuse a body that announces itself as something other than JSON (415)."""
    if content_type not in JSON_CONTENT_TYPES and not content_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"Unsupported Content-Type {content_type[:80]!r}: send the body as JSON "
            "(application/json)"
        )
    if charset is not None and charset.lower() not in JSON_CHARSETS:
        raise UnsupportedMediaType(
            f"Unsupported charset {charset[:40]!r} in Content-Type: send the body as UTF-8"
        )


_Chain = tuple[Any, int | str] | None  # (parent chain, key): a path built only on error


def _where(chain: _Chain) -> str:
    parts: list[int | str] = []
    while chain is not None:
        chain, key = chain
        parts.append(key)
    return key_path(parts[::-1])[:120] or "the request body"


def _check_structure(body: dict[str, Any], *, may_hold_nul: bool) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH and (when the text has a `\\u0000` escape)
    strings with NUL characters, naming where. Iterative: a recursive walk would itself be
    the stack overflow it guards against. Containers whose items are all scalars are
    skipped at C speed (`set(map(type, ...))`), with no Python-level loop over their items."""
    stack: list[tuple[dict[str, Any] | list[Any], _Chain, int]] = [(body, None, 0)]
    while stack:
        node, chain, depth = stack.pop()
        if depth >= MAX_JSON_DEPTH:
            raise InvalidRequest(
                f"Malformed json in request body: nested deeper than {MAX_JSON_DEPTH} "
                f"levels (at `{_where(chain)}`)",
                code="invalid_json",
            )
        values = node.values() if isinstance(node, dict) else node
        kinds = set(map(type, values))
        if not (kinds & _CONTAINERS or (may_hold_nul and (str in kinds or isinstance(node, dict)))):
            continue
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if may_hold_nul and isinstance(key, str) and "\x00" in key:
                raise InvalidRequest(
                    f"Invalid key in `{_where(chain)}`: NUL characters (\\u0000) are not "
                    "allowed in strings",
                    field=_where(chain) if chain is not None else None,
                    code="invalid_value",
                )
            if isinstance(value, dict | list):
                stack.append((value, (chain, key), depth + 1))
            elif may_hold_nul and isinstance(value, str) and "\x00" in value:
                raise InvalidRequest(
                    f"Invalid value for `{_where((chain, key))}`: NUL characters (\\u0000) "
                    "are not allowed in strings",
                    field=_where((chain, key)),
                    code="invalid_value",
                )


_CONTAINERS = frozenset({dict, list})


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """Parse a request body: empty means `{}`. Invalid UTF-8, NaN and infinity literals,
    nesting past MAX_JSON_DEPTH, NUL characters and non-objects are rejected (400)."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"Request body is not valid UTF-8: byte 0x{raw[exc.start]:02x} at position {exc.start}",
            code="invalid_json",
        ) from None
    try:
        body = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"Malformed json in request body: {exc}"[:200], code="invalid_json"
        ) from None
    except RecursionError:
        raise InvalidRequest(
            f"Malformed json in request body: nested deeper than {MAX_JSON_DEPTH} levels",
            code="invalid_json",
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise InvalidRequest(
            f"Malformed json in request body: {exc}"[:200], code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object", code="invalid_json")
    # A NUL can only come from a \\u0000 escape: a raw one is invalid JSON already.
    _check_structure(body, may_hold_nul="\\u0000" in text)
    return body
