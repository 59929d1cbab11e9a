"""The use-case layer: what the service does, independent of HTTP.

`OptimizationService` owns every use case (create / get / list / update / delete
experiments, suggest, observe, observe-and-suggest, batch observe, suggestions and
observations by id, best assignments, stopping criteria), the budget check, and the store
thread they run on. It sits between the HTTP layer (`sigopt_service.http`, which parses
and renders) and the engine and store, which it wires together.
"""

from __future__ import annotations

from sigopt_service.usecases._core import suggest_and_store
from sigopt_service.usecases._observations import Observed
from sigopt_service.usecases.service import OptimizationService, open_store

__all__ = ["Observed", "OptimizationService", "open_store", "suggest_and_store"]
