"""The engine: the optimizer (`Engine`, Optuna ask/tell) and its search space (`Space`).

The engine proposes assignments; whoever calls it stores them and reports back
(`accepted` / `discarded`). It reads the store only to rebuild its caches.
"""

from __future__ import annotations

from sigopt_service.engine.engine import Engine, Proposal
from sigopt_service.engine.space import Space, grid_point, grid_size

__all__ = ["Engine", "Proposal", "Space", "grid_point", "grid_size", "suggest_and_store"]
