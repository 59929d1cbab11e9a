"""Token bodies and expiries as people write them: `parse_expiry` (the CLI's and the tokens
page's `--expires`), and the defaults and refusals of `validate_token_create`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sigopt_service.validation import InvalidField
from sigopt_service.validation.token import (
    SHARE_TOKEN_LIFETIME_S,
    parse_expiry,
    validate_experiment_token_create,
    validate_token_create,
    validate_token_update,
)

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
NOW_S = int(NOW.timestamp())


@pytest.mark.parametrize(
    ("text", "after_s"),
    [("45s", 45), ("90m", 5400), ("12h", 43200), ("30d", 30 * 86400), ("2w", 14 * 86400)],
)
def test_durations_count_from_now(text: str, after_s: int) -> None:
    assert parse_expiry(text, now=NOW) == NOW_S + after_s


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-31", datetime(2027, 1, 31, tzinfo=UTC)),
        ("2027-01-31T12:30:00Z", datetime(2027, 1, 31, 12, 30, tzinfo=UTC)),
        ("2027-01-31T12:30", datetime(2027, 1, 31, 12, 30, tzinfo=UTC)),
        ("2027-01-31T14:30:00+02:00", datetime(2027, 1, 31, 12, 30, tzinfo=UTC)),
    ],
)
def test_dates_are_utc_unless_they_say_otherwise(text: str, expected: datetime) -> None:
    assert parse_expiry(text, now=NOW) == int(expected.timestamp())


@pytest.mark.parametrize("text", ["tomorrow", "30", "0d", "30 d", "-1d", "1y", ""])
def test_anything_else_is_refused_with_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"neither a duration \(30d"):
        parse_expiry(text, now=NOW)


class TestCreate:
    def test_defaults(self) -> None:
        """A token of every experiment is read-write and never expires; an experiment's
        is read-only and lasts 30 days, as SigOpt's share tokens."""
        plain = validate_token_create({}, now=NOW_S)
        assert (plain.permissions, plain.experiment, plain.expires) == ("write", None, None)
        shared = validate_token_create({"experiment": "7"}, now=NOW_S)
        assert (shared.permissions, shared.experiment) == ("read", 7)
        assert shared.expires == NOW_S + SHARE_TOKEN_LIFETIME_S
        forever = validate_experiment_token_create(7, {"expires": None}, now=NOW_S)
        assert forever.expires is None and forever.permissions == "read"
        named = validate_token_create({"name": "  ci  ", "expires": NOW_S + 1}, now=NOW_S)
        assert (named.name, named.expires) == ("ci", NOW_S + 1)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"expires": NOW_S}, "expires"),
            ({"expires": 10**12}, "expires"),
            ({"expires": True}, "expires"),
            ({"experiment": 7, "permissions": "admin"}, "permissions"),
            ({"experiment": True}, "experiment"),
            ({"permissions": "READ"}, "permissions"),
            ({"lasts_forever": "yes"}, "lasts_forever"),
        ],
    )
    def test_refusals_name_the_field(self, body: dict[str, object], field: str) -> None:
        with pytest.raises(InvalidField) as refused:
            validate_token_create(body, now=NOW_S)
        assert refused.value.field == field


def test_update_keeps_what_is_given_only() -> None:
    """Only the keys sent are changed; `lasts_forever: true` clears the expiry."""
    assert validate_token_update({}, now=NOW_S).changes == {}
    rotate = validate_token_update({"token": "rotate"}, now=NOW_S)
    assert rotate.rotate and rotate.changes == {}
    assert validate_token_update({"lasts_forever": True}, now=NOW_S).changes == {"expires": None}
    assert validate_token_update({"name": None}, now=NOW_S).changes == {"name": None}
