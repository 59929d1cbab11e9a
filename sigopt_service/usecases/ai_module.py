"""`AiModule`: the use cases of SigOpt's AI module (projects, AI experiments, training
runs, checkpoints), as one async object beside `OptimizationService`, whose store thread
and engine it shares (`service.ai`): each method does its store and engine work in one
call on that thread, like every other use case.

```python
project = await service.ai.create_project({"id": "p", "name": "P"})
experiment = await service.ai.create_aiexperiment("p", body)
run = await service.ai.create_run_in_aiexperiment(int(experiment.id), {"name": "r"})
await service.ai.update_run(int(run.id), {"values": {"y": {"value": 1}}, "state": "completed"},
                            merge=True)                  # the run becomes an observation
```
Inputs are parsed request data; errors are `ApiError`s and the store's `StoreError`s.
"""

from __future__ import annotations

from typing import Any

# Module imports, not `from sigopt_service.usecases import ...`: see `service.py`.
import sigopt_service.usecases._aiexperiments as _aiexperiments
import sigopt_service.usecases._checkpoints as _checkpoints
import sigopt_service.usecases._projects as _projects
import sigopt_service.usecases._runs as _runs
from sigopt_service.models import Experiment
from sigopt_service.run_models import Checkpoint, Project, TrainingRun
from sigopt_service.store import Page, RunListing
from sigopt_service.usecases._calls import StoreCalls
from sigopt_service.usecases._core import Core


class AiModule:
    """The AI module's use cases, on the service's store thread."""

    def __init__(self, core: Core, calls: StoreCalls) -> None:
        self._core = core
        self._calls = calls

    def __repr__(self) -> str:
        return f"<AiModule {self._calls!r}>"

    # -- projects -------------------------------------------------------------------------
    async def create_project(self, body: dict[str, Any]) -> Project:
        """A 409 when the id is taken (the client's `ConflictingProjectException`)."""
        return await self._calls.call(_projects.create, self._core, body)

    async def get_project(self, project_id: str) -> Project:
        return await self._calls.call(_projects.fetch, self._core, project_id)

    async def list_projects(
        self, *, include_deleted: bool, sort: str, ascending: bool
    ) -> list[Project]:
        return await self._calls.call(
            _projects.listing,
            self._core,
            include_deleted=include_deleted,
            sort=sort,
            ascending=ascending,
        )

    async def update_project(self, project_id: str, body: dict[str, Any]) -> Project:
        return await self._calls.call(_projects.update, self._core, project_id, body)

    # -- AI experiments -------------------------------------------------------------------
    async def create_aiexperiment(self, project_id: str, body: dict[str, Any]) -> Experiment:
        return await self._calls.call(_aiexperiments.create, self._core, project_id, body)

    async def get_aiexperiment(self, eid: int) -> Experiment:
        """With `runs_progress`; a classic experiment's id is a 404."""
        return await self._calls.call(_aiexperiments.fetch, self._core, eid)

    async def update_aiexperiment(self, eid: int, body: dict[str, Any]) -> Experiment:
        return await self._calls.call(_aiexperiments.update, self._core, eid, body)

    async def delete_aiexperiment(self, eid: int, *, include_runs: bool) -> None:
        await self._calls.call(_aiexperiments.delete, self._core, eid, include_runs=include_runs)

    async def best_runs(self, eid: int) -> list[TrainingRun]:
        return await self._calls.call(_aiexperiments.best_runs, self._core, eid)

    # -- training runs --------------------------------------------------------------------
    async def create_run_in_project(self, project_id: str, body: dict[str, Any]) -> TrainingRun:
        return await self._calls.call(_runs.create_in_project, self._core, project_id, body)

    async def create_runs_in_project(
        self, project_id: str, body: dict[str, Any]
    ) -> list[TrainingRun]:
        return await self._calls.call(_runs.create_batch_in_project, self._core, project_id, body)

    async def create_run_in_aiexperiment(self, eid: int, body: dict[str, Any]) -> TrainingRun:
        return await self._calls.call(_runs.create_in_aiexperiment, self._core, eid, body)

    async def create_run_for_suggestion(self, eid: int, body: dict[str, Any]) -> TrainingRun:
        return await self._calls.call(_runs.create_for_suggestion, self._core, eid, body)

    async def get_run(self, run_id: int, *, eid: int | None = None) -> TrainingRun:
        return await self._calls.call(_runs.fetch, self._core, run_id, eid)

    async def update_run(
        self, run_id: int, body: dict[str, Any], *, merge: bool, eid: int | None = None
    ) -> TrainingRun:
        return await self._calls.call(_runs.update, self._core, run_id, body, merge=merge, eid=eid)

    async def delete_run(self, run_id: int, *, eid: int | None = None) -> TrainingRun:
        return await self._calls.call(_runs.delete, self._core, run_id, eid)

    async def list_runs(
        self,
        *,
        project: str | None = None,
        experiment: int | None = None,
        order: RunListing,
        limit: int,
        cursor: int | None,
    ) -> Page[TrainingRun]:
        """One page in `order` (with the count of all that match, whether more follow)."""
        return await self._calls.call(
            _runs.listing,
            self._core,
            project=project,
            experiment=experiment,
            order=order,
            limit=limit,
            cursor=cursor,
        )

    # -- checkpoints ----------------------------------------------------------------------
    # `eid`, as for a run: under an experiment's path, only a run of that experiment.
    async def create_checkpoint(
        self, run_id: int, body: dict[str, Any], *, eid: int | None = None
    ) -> Checkpoint:
        return await self._calls.call(_checkpoints.create, self._core, run_id, body, eid)

    async def get_checkpoint(
        self, run_id: int, checkpoint_id: int, *, eid: int | None = None
    ) -> Checkpoint:
        return await self._calls.call(_checkpoints.fetch, self._core, run_id, checkpoint_id, eid)

    async def list_checkpoints(
        self, run_id: int, *, limit: int, cursor: int | None, eid: int | None = None
    ) -> Page[Checkpoint]:
        return await self._calls.call(_checkpoints.listing, self._core, run_id, limit, cursor, eid)
