"""The use-case layer: what the service does, independent of HTTP.

`OptimizationService` owns every use case (create / get / list / update / delete
experiments, suggest, observe, observe-and-suggest, batch observe, suggestions and
observations by id, best assignments, stopping criteria, the analysis pages' reads and
parameter importances; the API tokens in `service.tokens`, a `TokenRegistry`; SigOpt's
AI module, projects, AI experiments and training runs, in `service.ai`, an `AiModule`), the
budget check, and the store thread they run on. It sits
between the HTTP layer (`sigopt_service.http`, which parses and renders) and the engine
and store, which it wires together.
"""

from __future__ import annotations

from sigopt_service.usecases._analysis import ExperimentOverview, History, HistoryUpdate
from sigopt_service.usecases._core import suggest_and_store
from sigopt_service.usecases._importances import (
    MIN_OBSERVATIONS as MIN_IMPORTANCE_OBSERVATIONS,
)
from sigopt_service.usecases._importances import MetricImportance
from sigopt_service.usecases._observations import Observed
from sigopt_service.usecases._tokens import IssuedToken, TokenRegistry, hash_secret
from sigopt_service.usecases.ai_module import AiModule
from sigopt_service.usecases.service import OptimizationService, open_store

__all__ = [
    "MIN_IMPORTANCE_OBSERVATIONS",
    "AiModule",
    "ExperimentOverview",
    "History",
    "HistoryUpdate",
    "IssuedToken",
    "MetricImportance",
    "Observed",
    "OptimizationService",
    "TokenRegistry",
    "hash_secret",
    "open_store",
    "suggest_and_store",
]
