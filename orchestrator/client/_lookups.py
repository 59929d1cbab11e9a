"""What an earlier, ambiguous attempt of `suggest` or `observe` may have done: the
suggestion it created, the observation it stored.

Both run inside one attempt of their caller, so their requests are not retried on their
own (nested retries would multiply the bounds); a failure here fails the attempt.
"""

from __future__ import annotations

import structlog

from orchestrator.client._bodies import REQUEST_KEY
from orchestrator.client._requests import Requests, parse
from orchestrator.errors import ServiceRejected
from sigopt_service.models import Observation, Suggestion, SuggestionState

log = structlog.get_logger()


async def find_by_request_key(
    requests: Requests, experiment_id: str, key: str
) -> Suggestion | None:
    """The open suggestion an earlier attempt of `suggest` created, if any.

    Runs inside one attempt, so its requests are not retried on their own (nested
    retries would multiply the bounds); a failure here fails the attempt.
    """
    path = f"/experiments/{experiment_id}/suggestions"
    async for suggestion in requests.iter_pages(Suggestion, path, {"state": "open"}, retried=False):
        if suggestion.metadata and suggestion.metadata.get(REQUEST_KEY) == key:
            log.info("suggestion_adopted", experiment_id=experiment_id, suggestion_id=suggestion.id)
            return suggestion
    return None


async def existing_observation(
    requests: Requests, experiment_id: str, suggestion_id: str
) -> Observation | None:
    """The observation that closed the suggestion, or None while it is still open.

    Runs inside one attempt of `observe`, so its requests are not retried on their own
    (nested retries would multiply the bounds); a failure here fails the attempt.
    """
    path = f"/experiments/{experiment_id}/suggestions/{suggestion_id}"
    suggestion = parse(Suggestion, await requests.send("GET", path), "GET", path)
    if suggestion.state is not SuggestionState.CLOSED:
        return None
    obs_path = f"/experiments/{experiment_id}/observations"
    async for observation in requests.iter_pages(Observation, obs_path, {}, retried=False):
        if observation.suggestion == suggestion_id:
            log.info(
                "observation_adopted",
                experiment_id=experiment_id,
                suggestion_id=suggestion_id,
                observation_id=observation.id,
            )
            return observation
    raise ServiceRejected(
        409,
        f"suggestion {suggestion_id} is closed but none of its observations remain",
        method="POST",
        path=obs_path,
    )
