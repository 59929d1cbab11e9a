"""SigOpt-compatible optimization service.

Layers, each importing only those below it: `http` (aiohttp app, middlewares, routes,
handlers) -> `usecases` (`OptimizationService`) -> `engine` (the optimizer) and `store`
(in-memory, SQLite, the caching wrapper). `python -m sigopt_service` runs it standalone.
"""

from __future__ import annotations

from sigopt_service.config import ServiceConfig
from sigopt_service.http import create_app, running_service, serve

__all__ = ["ServiceConfig", "create_app", "running_service", "serve"]
