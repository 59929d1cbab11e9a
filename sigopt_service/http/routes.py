"""Route table of SigOpt REST API v1 under `/v1` (spec section 3), `add_routes`, and the
handler of the API's own OpenAPI document.

The handlers live in one module per resource (`experiments.py`, `suggestions.py`,
`observations.py`, `queued_suggestions.py`); each parses the request, makes one call to
the use-case layer (`sigopt_service.usecases.OptimizationService`) and renders wire models.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from sigopt_service.http.ai_routes import AI_ROUTES
from sigopt_service.http.clients import create_client_experiment, list_client_experiments
from sigopt_service.http.context import config_of
from sigopt_service.http.experiments import (
    best_assignments,
    create_experiment,
    delete_experiment,
    get_experiment,
    list_experiments,
    stopping_criteria,
    update_experiment,
)
from sigopt_service.http.importances import metric_importances
from sigopt_service.http.observations import (
    create_observation,
    create_observation_batch,
    delete_observation,
    delete_observations,
    get_observation,
    list_observations,
    update_observation,
)
from sigopt_service.http.openapi import openapi_document
from sigopt_service.http.queued_suggestions import (
    create_queued_suggestion,
    delete_queued_suggestion,
    get_queued_suggestion,
    list_queued_suggestions,
)
from sigopt_service.http.responses import json_response
from sigopt_service.http.suggestions import (
    create_suggestion,
    delete_suggestion,
    delete_suggestions,
    get_suggestion,
    list_suggestions,
    update_suggestion,
)
from sigopt_service.http.tokens import (
    create_client_token,
    create_experiment_token,
    delete_token,
    get_token,
    list_client_tokens,
    update_token,
)

RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: (method, path, handler, summary)
Route = tuple[str, str, RouteHandler, str]


async def openapi(request: web.Request) -> web.Response:
    return json_response(request, openapi_document(ROUTES, auth=bool(config_of(request).tokens)))


ROUTES: list[Route] = [
    ("POST", "/v1/experiments", create_experiment, "Create an experiment"),
    ("GET", "/v1/experiments", list_experiments, "List experiments"),
    ("GET", "/v1/experiments/{experiment_id}", get_experiment, "Fetch an experiment"),
    ("PUT", "/v1/experiments/{experiment_id}", update_experiment, "Update an experiment"),
    ("DELETE", "/v1/experiments/{experiment_id}", delete_experiment, "Delete an experiment"),
    (
        "POST",
        "/v1/experiments/{experiment_id}/suggestions",
        create_suggestion,
        "Create a suggestion",
    ),
    ("GET", "/v1/experiments/{experiment_id}/suggestions", list_suggestions, "List suggestions"),
    (
        "DELETE",
        "/v1/experiments/{experiment_id}/suggestions",
        delete_suggestions,
        "Delete all (or all open) suggestions",
    ),
    (
        "GET",
        "/v1/experiments/{experiment_id}/suggestions/{suggestion_id}",
        get_suggestion,
        "Fetch a suggestion",
    ),
    (
        "PUT",
        "/v1/experiments/{experiment_id}/suggestions/{suggestion_id}",
        update_suggestion,
        "Update a suggestion's metadata",
    ),
    (
        "DELETE",
        "/v1/experiments/{experiment_id}/suggestions/{suggestion_id}",
        delete_suggestion,
        "Delete a suggestion",
    ),
    (
        "POST",
        "/v1/experiments/{experiment_id}/observations",
        create_observation,
        "Create an observation",
    ),
    (
        "POST",
        "/v1/experiments/{experiment_id}/observations/batch",
        create_observation_batch,
        "Create observations in one all-or-nothing batch",
    ),
    ("GET", "/v1/experiments/{experiment_id}/observations", list_observations, "List observations"),
    (
        "DELETE",
        "/v1/experiments/{experiment_id}/observations",
        delete_observations,
        "Delete all observations",
    ),
    (
        "GET",
        "/v1/experiments/{experiment_id}/observations/{observation_id}",
        get_observation,
        "Fetch an observation",
    ),
    (
        "PUT",
        "/v1/experiments/{experiment_id}/observations/{observation_id}",
        update_observation,
        "Update an observation",
    ),
    (
        "DELETE",
        "/v1/experiments/{experiment_id}/observations/{observation_id}",
        delete_observation,
        "Delete an observation",
    ),
    (
        "POST",
        "/v1/experiments/{experiment_id}/queued_suggestions",
        create_queued_suggestion,
        "Queue assignments: the next suggestions serve them first, oldest first",
    ),
    (
        "GET",
        "/v1/experiments/{experiment_id}/queued_suggestions",
        list_queued_suggestions,
        "List the queued suggestions still waiting",
    ),
    (
        "GET",
        "/v1/experiments/{experiment_id}/queued_suggestions/{queued_suggestion_id}",
        get_queued_suggestion,
        "Fetch a queued suggestion",
    ),
    (
        "DELETE",
        "/v1/experiments/{experiment_id}/queued_suggestions/{queued_suggestion_id}",
        delete_queued_suggestion,
        "Delete a queued suggestion",
    ),
    (
        "GET",
        "/v1/experiments/{experiment_id}/best_assignments",
        best_assignments,
        "Best assignments (Pareto front for two optimized metrics)",
    ),
    (
        "GET",
        "/v1/experiments/{experiment_id}/stopping_criteria",
        stopping_criteria,
        "Stopping criteria",
    ),
    (
        "GET",
        "/v1/experiments/{experiment_id}/metric_importances",
        metric_importances,
        "Parameter importances per optimized metric (empty until enough observations)",
    ),
    (
        "POST",
        "/v1/clients/{client_id}/experiments",
        create_client_experiment,
        "Create an experiment of the client (the one implicit client, id 1)",
    ),
    (
        "GET",
        "/v1/clients/{client_id}/experiments",
        list_client_experiments,
        "List the client's experiments (the one implicit client, id 1)",
    ),
    (
        "GET",
        "/v1/clients/{client_id}/tokens",
        list_client_tokens,
        "List the API tokens (admin token only)",
    ),
    (
        "POST",
        "/v1/clients/{client_id}/tokens",
        create_client_token,
        "Create an API token; its secret is in this answer only (admin token only)",
    ),
    (
        "POST",
        "/v1/experiments/{experiment_id}/tokens",
        create_experiment_token,
        "Create the experiment's read-only share token; its secret is in this answer only",
    ),
    ("GET", "/v1/tokens/{token_id}", get_token, "Fetch a token, or `self`: the one in use"),
    (
        "PUT",
        "/v1/tokens/{token_id}",
        update_token,
        'Update a token: `{"token": "rotate"}` answers a new secret, once',
    ),
    ("DELETE", "/v1/tokens/{token_id}", delete_token, "Revoke a token (admin token only)"),
    # SigOpt's AI module (projects, AI experiments, training runs) and account objects.
    *AI_ROUTES,
    ("GET", "/v1/openapi.json", openapi, "This API's OpenAPI document"),
]


def add_routes(app: web.Application) -> None:
    for method, path, handler, _ in ROUTES:
        app.router.add_route(method, path, handler)
