"""The typed application keys the HTTP layer shares: the config (set when the app is
built) and the use-case object (set on startup).

A module of its own, below the app factory, the middlewares and the handlers, so that
they all read the same keys while the factory imports the handlers and nothing imports
the factory back.
"""

from __future__ import annotations

from aiohttp import web

from sigopt_service.config import ServiceConfig
from sigopt_service.usecases import OptimizationService

CONFIG = web.AppKey("config", ServiceConfig)
SERVICE = web.AppKey("service", OptimizationService)


def service_of(request: web.Request) -> OptimizationService:
    """The running service's use cases (present from startup to cleanup)."""
    return request.app[SERVICE]


def config_of(request: web.Request) -> ServiceConfig:
    return request.app[CONFIG]
