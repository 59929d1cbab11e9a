"""`add_pages`: the pages' routes, their login sessions and their gate, on the app."""

from __future__ import annotations

from aiohttp import web

from sigopt_service.http.pages.data import history, importances
from sigopt_service.http.pages.download import history_download
from sigopt_service.http.pages.experiment import analysis, observations_fragment, summary
from sigopt_service.http.pages.experiments import experiment_list
from sigopt_service.http.pages.gate import page_gate
from sigopt_service.http.pages.login import login, login_form, logout
from sigopt_service.http.pages.rendering import static_file
from sigopt_service.http.pages.sessions import SESSIONS, LoginSessions
from sigopt_service.http.pages.tokens import create_token, revoke_token, token_list

_EXPERIMENT = "/experiment/{experiment_id}"

PAGE_ROUTES = [
    ("GET", "/", experiment_list),
    ("GET", "/experiments", experiment_list),
    ("GET", _EXPERIMENT, summary),
    ("GET", f"{_EXPERIMENT}/analysis", analysis),
    ("GET", f"{_EXPERIMENT}/analysis/observations", observations_fragment),
    ("GET", f"{_EXPERIMENT}/history.json", history),
    ("GET", f"{_EXPERIMENT}/importances.json", importances),
    ("GET", f"{_EXPERIMENT}/historydownload", history_download),
    ("GET", "/login", login_form),
    ("POST", "/login", login),
    ("POST", "/logout", logout),
    ("GET", "/tokens", token_list),
    ("POST", "/tokens", create_token),
    ("POST", "/tokens/{token_id}/revoke", revoke_token),
    ("GET", "/static/{name}", static_file),
]


def add_pages(app: web.Application) -> None:
    """Routes, sessions and the gate (innermost middleware: the API's error, auth and rate
    limit middlewares run first; the gate leaves `/v1/` to them)."""
    app[SESSIONS] = LoginSessions()
    app.middlewares.append(page_gate)
    for method, path, handler in PAGE_ROUTES:
        app.router.add_route(method, path, handler)
