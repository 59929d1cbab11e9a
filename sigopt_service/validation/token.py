"""API token validation: the bodies of `POST /v1/clients/{id}/tokens`,
`POST /v1/experiments/{id}/tokens` and `PUT /v1/tokens/{id}`, and `parse_expiry`, the
one reading of a people's expiry (`30d`, `12h`, `2027-01-31`) that the CLI and the
tokens page share.

sigopt-server's token update takes `token: "rotate"`, `lasts_forever` and
`expires: "renew"` (`handlers/clients/tokens.py`); its share tokens (an experiment's) are
read-only and last 30 days unless told otherwise (`token/model.py`,
`GUEST_TOKEN_EXPIRY_SECONDS`). Here `expires` is also a Unix time to set, `null` for
never; `lasts_forever: true` is `expires: null`. Nothing renews (no token here is a
renewable session token), so `expires: "renew"` is a 400 naming it, as is any other key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sigopt_service.store import TokenPermission
from sigopt_service.validation._common import Body, InvalidField, guarded, parse_id, validate

#: How long an experiment's (share) token lasts unless `expires` says otherwise: SigOpt's.
SHARE_TOKEN_LIFETIME_S = 30 * 24 * 3600
#: The latest expiry accepted: the end of year 9999, as ISO 8601 can write it.
MAX_EXPIRES = 253_402_300_799
MAX_NAME_CHARS = 100
_DURATION = re.compile(r"([1-9][0-9]{0,6})([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class TokenCreateBody(Body):
    """`POST /v1/clients/{id}/tokens`: a token of every experiment, or of one."""

    name: str | None = None
    permissions: TokenPermission | None = None
    experiment: int | str | None = None
    expires: int | None = None
    lasts_forever: bool | None = None


class ExperimentTokenCreateBody(Body):
    """`POST /v1/experiments/{id}/tokens`: SigOpt's share token (it sent no body)."""

    name: str | None = None
    expires: int | None = None
    lasts_forever: bool | None = None


class TokenUpdateBody(Body):
    """`PUT /v1/tokens/{id}`: rotate the secret, rename, change when it expires."""

    token: Literal["rotate"] | None = None
    name: str | None = None
    expires: int | None = None
    lasts_forever: bool | None = None


@dataclass(frozen=True)
class TokenRequest:
    """A validated token to create (the secret is the use case's to make)."""

    name: str | None
    permissions: TokenPermission
    experiment: int | None
    expires: int | None


@dataclass(frozen=True)
class TokenChanges:
    """A validated update: whether to rotate, and the stored fields to replace."""

    rotate: bool
    changes: Mapping[str, Any]


def _name(raw: str | None) -> str | None:
    if raw is None:
        return None
    name = raw.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise InvalidField(
            f"Invalid value for `name`: give 1 to {MAX_NAME_CHARS} characters",
            field="name",
            code="invalid_value",
        )
    return name


def _expiry(
    body: Mapping[str, Any], expires: int | None, now: int, default: int | None
) -> int | None:
    """When the token ends: `expires` if given (null: never), `lasts_forever: true`
    (never), else `default`. A time already past, or both keys at once, is a 400."""
    forever = body.get("lasts_forever")
    if forever is False:
        raise InvalidField(
            "Invalid value for `lasts_forever`: only true is accepted; give `expires` to "
            "set when the token ends",
            field="lasts_forever",
            code="invalid_value",
        )
    if forever is True:
        if expires is not None:
            raise InvalidField(
                "Give `expires` or `lasts_forever`, not both",
                field="lasts_forever",
                code="invalid_request",
            )
        return None
    if "expires" not in body:
        return default
    if expires is not None and not now < expires <= MAX_EXPIRES:
        raise InvalidField(
            f"Invalid value for `expires`: {expires} is not a Unix time in the future "
            f"(now is {now})",
            field="expires",
            code="invalid_value",
        )
    return expires


@guarded
def validate_token_create(body: Mapping[str, Any], *, now: int) -> TokenRequest:
    """A token of every experiment (`permissions` default `write`), or with `experiment`
    one experiment's read-only token, lasting `SHARE_TOKEN_LIFETIME_S` by default."""
    parsed = validate(TokenCreateBody, body)
    experiment = (
        None
        if parsed.experiment is None
        else parse_id(parsed.experiment, "experiment", "experiment")
    )
    if experiment is not None and parsed.permissions not in (None, "read"):
        raise InvalidField(
            "Invalid value for `permissions`: an experiment's token is read-only (`read`), "
            "as SigOpt's share tokens are",
            field="permissions",
            code="invalid_value",
        )
    default_permissions: TokenPermission = "read" if experiment is not None else "write"
    return TokenRequest(
        name=_name(parsed.name),
        permissions=parsed.permissions or default_permissions,
        experiment=experiment,
        expires=_expiry(
            body,
            parsed.expires,
            now,
            None if experiment is None else now + SHARE_TOKEN_LIFETIME_S,
        ),
    )


@guarded
def validate_experiment_token_create(
    experiment_id: int, body: Mapping[str, Any], *, now: int
) -> TokenRequest:
    """The experiment's read-only share token."""
    parsed = validate(ExperimentTokenCreateBody, body)
    return TokenRequest(
        name=_name(parsed.name),
        permissions="read",
        experiment=experiment_id,
        expires=_expiry(body, parsed.expires, now, now + SHARE_TOKEN_LIFETIME_S),
    )


@guarded
def validate_token_update(body: Mapping[str, Any], *, now: int) -> TokenChanges:
    parsed = validate(TokenUpdateBody, body)
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = _name(parsed.name)
    if "expires" in body or "lasts_forever" in body:
        changes["expires"] = _expiry(body, parsed.expires, now, None)
    return TokenChanges(rotate=parsed.token == "rotate", changes=changes)


def parse_expiry(text: str, *, now: datetime) -> int:
    """A Unix time from a duration after `now` (`30d`, `12h`, `90m`, `45s`, `2w`) or an
    ISO 8601 date or time (`2027-01-31`, `2027-01-31T12:00:00+02:00`; UTC unless it
    says otherwise). `ValueError` with a message for people otherwise."""
    text = text.strip()
    duration = _DURATION.fullmatch(text)
    if duration is not None:
        amount, unit = duration.groups()
        return int((now + timedelta(seconds=int(amount) * _UNIT_S[unit])).timestamp())
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r:.40} is neither a duration (30d, 12h, 90m, 45s, 2w) nor an ISO 8601 "
            "date (2027-01-31) or time (2027-01-31T12:00:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())
