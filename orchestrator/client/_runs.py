"""`TrainingRuns`: the SigOpt training run calls the coordinator makes (`client.runs`):
a run bound to a suggestion, fetched after its command exits, and its final state.

Not exactly-once: a create retried after an ambiguous failure may leave a second run of
the suggestion, which stays active and counts nowhere (a classic experiment's runs make
no observation: the coordinator reports it, `usecases/_runs.py`).
"""

from __future__ import annotations

from typing import Any

from orchestrator.client._requests import Requests, parse
from sigopt_service.run_models import RunState, TrainingRun


class TrainingRuns:
    """Training run calls over the client's requests (retries and error mapping)."""

    def __init__(self, requests: Requests) -> None:
        self._requests = requests

    def __repr__(self) -> str:
        return f"TrainingRuns({self._requests.transport!r})"

    async def create_for_suggestion(
        self, experiment_id: str, suggestion_id: str, *, name: str
    ) -> TrainingRun:
        """A run carrying the open suggestion's assignments (the service's extension
        `POST /experiments/{id}/training_runs` with `suggestion`)."""
        path = f"/experiments/{experiment_id}/training_runs"
        body = {"suggestion": suggestion_id, "name": name}
        return parse(TrainingRun, await self._requests.call("POST", path, json=body), "POST", path)

    async def of_experiment(self, experiment_id: str) -> list[TrainingRun]:
        """Every run of the experiment, newest first (all pages)."""
        path = f"/experiments/{experiment_id}/training_runs"
        return [r async for r in self._requests.iter_pages(TrainingRun, path, {})]

    async def get(self, run_id: str) -> TrainingRun:
        path = f"/training_runs/{run_id}"
        return parse(TrainingRun, await self._requests.call("GET", path), "GET", path)

    async def finish(self, run_id: str, state: RunState) -> TrainingRun:
        """Set the final state as the `sigopt` client does (`MERGE`; idempotent)."""
        path = f"/training_runs/{run_id}"
        body: dict[str, Any] = {"state": state.value}
        response = await self._requests.call("MERGE", path, json=body)
        return parse(TrainingRun, response, "MERGE", path)
