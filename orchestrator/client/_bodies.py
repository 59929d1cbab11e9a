"""What the client sends and gets back beyond the wire models: observation bodies, the
`next_suggestion` extension's answer, and the result types of `report_and_ask`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.client._requests import parse
from orchestrator.errors import ServiceRejected
from orchestrator.transport import TransportResponse
from sigopt_service.models import MetricEvaluation, Observation, Suggestion

#: The suggestion metadata key that makes a retried `suggest` recognisable.
REQUEST_KEY = "request_key"

#: The field a server names when it refuses the `next_suggestion` extension.
NEXT_SUGGESTION = "next_suggestion"


@dataclass(frozen=True)
class AskNext:
    """The next suggestion did not come with the report: ask for it with
    `suggest(request_key=..., maybe_created=...)` (the combined request may have made it)."""

    request_key: str
    maybe_created: bool


@dataclass(frozen=True)
class Reported:
    """What `report_and_ask` did: the stored observation (None: the service refused the
    report, `refused` says why), and the next suggestion, None when the budget is full,
    or `AskNext`."""

    observation: Observation | None
    next: Suggestion | AskNext | None
    refused: ServiceRejected | None = None


def observation_body(
    suggestion_id: str,
    values: Sequence[MetricEvaluation] | None,
    failed: bool,
    metadata: Mapping[str, Any] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"suggestion": suggestion_id}
    if failed:
        # The service rejects `failed` together with values (spec section 4).
        body["failed"] = True
    else:
        body["values"] = [
            {"name": v.name, "value": v.value, "value_stddev": v.value_stddev} for v in values or ()
        ]
    if metadata is not None:
        body["metadata"] = dict(metadata)
    return body


def combined_answer(
    response: TransportResponse, path: str, key: str, within_budget: bool
) -> tuple[Reported, bool]:
    """A 2xx answer to the combined request (the observation is stored), and whether the
    server offers `next_suggestion` (False: it ignored the key and stored the report only)."""
    # The wire models ignore fields they do not know: next_suggestion is left out.
    observation = parse(Observation, response, "POST", path)
    body = response.body
    if not isinstance(body, dict) or NEXT_SUGGESTION not in body:
        return Reported(observation, AskNext(key, maybe_created=False)), False
    if body[NEXT_SUGGESTION] is not None:
        raw = TransportResponse(response.status, body[NEXT_SUGGESTION])
        return Reported(observation, parse(Suggestion, raw, "POST", path)), True
    if within_budget and is_budget_refusal(body):
        return Reported(observation, None), True
    # No suggestion for another reason (an engine error): asking again says why. A 5xx
    # may come after the work: a PostgreSQL connection lost during the COMMIT leaves the
    # suggestion stored all the same, so it is looked for by its key before a second.
    refused = body.get("next_suggestion_refused")
    status = refused.get("status") if isinstance(refused, dict) else None
    maybe_created = isinstance(status, int) and status >= 500
    return Reported(observation, AskNext(key, maybe_created=maybe_created)), True


def is_budget_refusal(body: Mapping[str, Any]) -> bool:
    """Whether `next_suggestion_refused` says the budget is full: a 409, with code
    `budget_reached` when the server sends codes at all."""
    refused = body.get("next_suggestion_refused")
    if not isinstance(refused, dict) or refused.get("status") != 409:
        return False
    code = refused.get("code")
    return code is None or code == "budget_reached"


def refuses_next_suggestion(exc: ServiceRejected) -> bool:
    """Whether a 4xx says the server does not know the `next_suggestion` extension: a 400
    whose `field` names it."""
    return (
        exc.status == 400
        and exc.field is not None
        and exc.field.split(".")[0].split("[")[0] == NEXT_SUGGESTION
    )


def is_bare_refusal(exc: ServiceRejected) -> bool:
    """A 400 with no error data at all (`code`, `field`): a server that is not ours, such
    as sigopt-server refusing the unknown key `next_suggestion`, or refusing the report
    itself. Which of the two, only a plain `observe` of the same report tells."""
    return exc.status == 400 and exc.field is None and exc.code is None
