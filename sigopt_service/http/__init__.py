"""The HTTP layer: the aiohttp app factory and runners, the middlewares, the route table,
one handler module per resource, and request parsing. It parses, calls the use-case layer
(`sigopt_service.usecases`) once per request, and renders; errors become SigOpt's JSON
body (plus `field` and `code`) here and only here."""

from __future__ import annotations

from sigopt_service.http.app import create_app, running_service, serve
from sigopt_service.http.routes import ROUTES, add_routes

__all__ = ["ROUTES", "add_routes", "create_app", "running_service", "serve"]
