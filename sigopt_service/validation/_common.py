"""What every validator shares: the error type, pydantic errors as `InvalidField`, key paths,
finite numbers and record ids.

Every error a validator raises is an `InvalidField`: an `InvalidRequest` whose `field` is the
key path in the request body (SigOpt style, `parameters[2].bounds.min`), whose `code` is
`missing_key`, `unknown_key`, `invalid_value` or `invalid_request`, and whose `reason` says
what is wrong without repeating the path (the message, for people, does).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, ParamSpec, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from sigopt_service.errors import ErrorCode, InvalidRequest
from sigopt_service.limits import MAX_ID

#: What `int()` would accept beyond plain ASCII digits ("1_000", " 7", "٣") is refused.
_INTEGER = re.compile(r"-?[0-9]{1,30}")


class InvalidField(InvalidRequest):
    """A request body breaks a rule; `field` names the key (None where no key applies) and
    `reason` is what is wrong with it, e.g. field `parameters[0].bounds`, reason
    "min (3.0) must be less than max (1.0)". A caller that shows its own key names (the
    orchestrator's config loader) combines the two instead of parsing `message`."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None,
        code: ErrorCode,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, field=field, code=code)
        self.reason = message if reason is None else reason


def key_path(loc: Sequence[int | str]) -> str:
    """A location as the messages show it: `("parameters", 0, "name")` -> `parameters[0].name`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def join(prefix: str, field: str | None) -> str:
    """`field` under `prefix`: `join("observations[0]", "values[1].value")`."""
    if not field:
        return prefix
    return f"{prefix}{field}" if field.startswith("[") else f"{prefix}.{field}"


def invalid_value(where: str, detail: str) -> InvalidField:
    """The common form "Invalid value for `where`: detail"."""
    return InvalidField(
        f"Invalid value for `{where}`: {detail}", field=where, code="invalid_value", reason=detail
    )


def finite(value: float, where: str) -> float:
    if not math.isfinite(value):
        raise invalid_value(where, f"{value!r} is not a finite number")
    return value


def parse_id(raw: int | str, what: str, field: str) -> int:
    """A record id given in a body (`suggestion`) or a query (`id=`): a positive integer
    or its plain ASCII digits, at most `MAX_ID`."""
    if isinstance(raw, str) and not _INTEGER.fullmatch(raw):
        raise InvalidField(f"Invalid {what} id: {raw!r:.60}", field=field, code="invalid_value")
    try:
        parsed = int(raw)
    except (TypeError, ValueError):
        raise InvalidField(
            f"Invalid {what} id: {raw!r:.60}", field=field, code="invalid_value"
        ) from None
    if isinstance(raw, bool) or not 0 < parsed <= MAX_ID:
        raise InvalidField(f"Invalid {what} id: {raw!r:.60}", field=field, code="invalid_value")
    return parsed


def _not_blank(name: str) -> str:
    if not name.strip():
        raise ValueError("names cannot be empty")  # SigOpt strips names, then refuses ""
    return name


#: A name (experiment, parameter, metric): not empty, not only whitespace.
NameStr = Annotated[str, AfterValidator(_not_blank)]


# -- the strict pydantic models ---------------------------------------------------------
class Body(BaseModel):
    """Base of the request body models: unknown keys and loose types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# pydantic names the branch of a union in an error's location; the user never wrote it.
_UNION_TAGS = {
    "str",
    "int",
    "float",
    "ParameterBody",
    "MetricBody",
    "CategoricalBody",
    "function-after[_strip(), str]",
    "function-after[_not_blank(), str]",
}

M = TypeVar("M", bound=BaseModel)


def _from_pydantic(exc: ValidationError, prefix: str = "") -> InvalidField:
    err = exc.errors()[0]
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS)]
    full = [*(prefix.split(".") if prefix else []), *loc]
    where = key_path(full)
    if err["type"] == "extra_forbidden":
        parent = key_path(loc[:-1])
        return InvalidField(
            f"Unknown json keys `{loc[-1]}` in: {parent or 'the request body'}",
            field=where,
            code="unknown_key",
            reason="unknown key",
        )
    if err["type"] == "missing":
        return InvalidField(
            f"Missing required json key `{where}`",
            field=where,
            code="missing_key",
            reason="required key is missing",
        )
    detail = f"{err['msg']} (got {err['input']!r:.80})"
    return InvalidField(
        f"Invalid value for `{where}`: {detail}",
        field=where or None,
        code="invalid_value" if where else "invalid_request",
        reason=detail,
    )


def validate(model: type[M], data: Any, prefix: str = "") -> M:
    """`data` as `model`, or the first pydantic error as an `InvalidField`; `prefix` is
    where `data` sits in the request body (`parameters[2]`)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _from_pydantic(exc, prefix) from exc


P = ParamSpec("P")
R = TypeVar("R")


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn`, a validator of a whole request body, raising nothing but `InvalidRequest`.

    The body models check what they can; the hand-written rules then build wire models
    (`Parameter`, `Metric`, `Bounds`), whose own checks a malformed value the rules missed
    would trip as a `ValidationError` (or a `ValueError` / `TypeError` from a conversion):
    a 500 for what is a bad request. This is the one boundary where those become an
    `InvalidField`, so no other exception can leave validation of a body.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except InvalidRequest:
            raise
        except ValidationError as exc:
            raise _from_pydantic(exc) from exc
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise InvalidField(
                f"Invalid request body: {exc}",
                field=None,
                code="invalid_request",
                reason=str(exc),
            ) from exc

    return wrapper
