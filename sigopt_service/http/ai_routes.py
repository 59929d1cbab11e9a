"""The routes of SigOpt's AI module and the account objects its client reads, part of
the route table (`routes.py` appends them): `(method, path, handler, summary)`.

MERGE is an HTTP method of its own here, as sigopt-server's `merge_route`: the official
client logs metrics, metadata and failure with `MERGE /v1/training_runs/{id}`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

# Module imports, not `from sigopt_service.http import ...`: that would run the package's
# __init__, which imports the app, which imports the route table, which imports this.
import sigopt_service.http.accounts as accounts
import sigopt_service.http.aiexperiments as aiexperiments
import sigopt_service.http.projects as projects
import sigopt_service.http.runs as runs

AiRoute = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]], str]

_CLIENT = "/v1/clients/{client_id}"
_PROJECT = f"{_CLIENT}/projects/{{project_id}}"
_AI = "/v1/aiexperiments/{experiment_id}"
_RUN = "/v1/training_runs/{training_run_id}"
_EXPERIMENT_RUN = "/v1/experiments/{experiment_id}/training_runs/{training_run_id}"


def _run_routes(base: str, what: str) -> list[AiRoute]:
    return [
        ("GET", base, runs.get_run, f"Fetch a training run{what}"),
        ("PUT", base, runs.update_run, f"Update a training run{what}: each field replaced"),
        ("MERGE", base, runs.update_run, f"Update a training run{what}: objects merged"),
        ("DELETE", base, runs.delete_run, f"Delete a training run{what} (soft)"),
        ("POST", f"{base}/checkpoints", runs.create_checkpoint, "Log a checkpoint of a run"),
        ("GET", f"{base}/checkpoints", runs.list_checkpoints, "List a run's checkpoints"),
        (
            "GET",
            f"{base}/checkpoints/{{checkpoint_id}}",
            runs.get_checkpoint,
            "Fetch a checkpoint",
        ),
        ("POST", f"{base}/files", runs.create_file, "Refused: this service stores no files"),
    ]


AI_ROUTES: list[AiRoute] = [
    ("GET", _CLIENT, accounts.get_client, "Fetch the client (the one client, id 1)"),
    ("GET", "/v1/organizations", accounts.list_organizations, "List the one organization"),
    (
        "GET",
        "/v1/organizations/{organization_id}",
        accounts.get_organization,
        "Fetch the organization (id 1)",
    ),
    ("POST", f"{_CLIENT}/projects", projects.create_project, "Create a project"),
    ("GET", f"{_CLIENT}/projects", projects.list_projects, "List projects"),
    ("GET", _PROJECT, projects.get_project, "Fetch a project"),
    ("PUT", _PROJECT, projects.update_project, "Update (or delete) a project"),
    (
        "GET",
        f"{_PROJECT}/experiments",
        projects.list_project_experiments,
        "List a project's experiments",
    ),
    (
        "GET",
        f"{_PROJECT}/aiexperiments",
        projects.list_project_aiexperiments,
        "List a project's AI experiments",
    ),
    (
        "POST",
        f"{_PROJECT}/aiexperiments",
        projects.create_project_aiexperiment,
        "Create an AI experiment in a project",
    ),
    ("GET", f"{_PROJECT}/training_runs", projects.list_project_runs, "List a project's runs"),
    (
        "POST",
        f"{_PROJECT}/training_runs",
        projects.create_project_run,
        "Create a run in a project (`sigopt.create_run`)",
    ),
    (
        "POST",
        f"{_PROJECT}/training_runs/batch",
        projects.create_project_runs,
        "Create runs in a project (`upload_runs`)",
    ),
    ("GET", f"{_CLIENT}/training_runs", runs.list_client_runs, "List every run"),
    (
        "GET",
        f"{_CLIENT}/aiexperiments",
        aiexperiments.list_client_aiexperiments,
        "List AI experiments",
    ),
    ("GET", "/v1/aiexperiments", aiexperiments.list_aiexperiments, "List AI experiments"),
    ("GET", _AI, aiexperiments.get_aiexperiment, "Fetch an AI experiment"),
    ("PUT", _AI, aiexperiments.update_aiexperiment, "Update an AI experiment"),
    (
        "DELETE",
        _AI,
        aiexperiments.delete_aiexperiment,
        "Delete an AI experiment (`include_runs=true`: its runs too)",
    ),
    (
        "POST",
        f"{_AI}/training_runs",
        aiexperiments.create_aiexperiment_run,
        "Create a run of an AI experiment, with a suggestion's assignments",
    ),
    (
        "GET",
        f"{_AI}/best_training_runs",
        aiexperiments.best_training_runs,
        "The runs that are the best observations",
    ),
    (
        "GET",
        "/v1/experiments/{experiment_id}/best_training_runs",
        aiexperiments.best_training_runs,
        "The runs that are the best observations",
    ),
    (
        "GET",
        "/v1/experiments/{experiment_id}/training_runs",
        runs.list_experiment_runs,
        "List an experiment's runs",
    ),
    (
        "POST",
        "/v1/experiments/{experiment_id}/training_runs",
        runs.create_suggestion_run,
        "Create the run of an open suggestion (our extension; `orchestrator run` uses it)",
    ),
    *_run_routes(_RUN, ""),
    *_run_routes(_EXPERIMENT_RUN, " of the experiment"),
]
