"""The JSON of the AI module's objects, as sigopt-server's builders emit them: a training
run (with the `object` keys of its nested maps and `finished`), a project, a checkpoint,
and an AI experiment (a classic experiment's JSON with `budget` for `observation_budget`,
its runs `progress`, and no `development`: `AiExperimentJsonBuilder`)."""

from __future__ import annotations

from typing import Any

from sigopt_service.models import Experiment
from sigopt_service.run_models import CLIENT_ID, Checkpoint, Project, TrainingRun


def run_json(run: TrainingRun, fields: frozenset[str] | None = None) -> dict[str, Any]:
    """A run's JSON; `fields` (the batch create's `fields=id,name`) keeps only those."""
    body = run.model_dump(mode="json")
    body["finished"] = run.finished
    body["logs"] = {k: {"object": "log", **v} for k, v in run.logs.items()}
    body["datasets"] = {k: {"object": "dataset", **v} for k, v in run.datasets.items()}
    body["model"] = {"object": "model", "type": run.model.get("type")}
    body["source_code"] = {
        "object": "source_code",
        "content": run.source_code.get("content"),
        "hash": run.source_code.get("hash"),
    }
    body["assignments_meta"] = {
        k: {"object": "assignments_meta", **v} for k, v in run.assignments_meta.items()
    }
    body["assignments_sources"] = {
        k: {"object": "assignments_sources", **v} for k, v in run.assignments_sources.items()
    }
    body["tags"] = []
    body["files"] = []
    if fields is not None:
        body = {k: v for k, v in body.items() if k in fields}
    return body


def project_json(project: Project) -> dict[str, Any]:
    return project.model_dump(mode="json")


def checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return checkpoint.model_dump(mode="json")


def aiexperiment_json(experiment: Experiment) -> dict[str, Any]:
    body = experiment.model_dump(mode="json")
    body["object"] = "aiexperiment"
    body["client"] = body.get("client") or CLIENT_ID
    body["budget"] = body.pop("observation_budget")
    body.pop("development", None)
    progress = experiment.runs_progress
    body["progress"] = None if progress is None else progress.model_dump(mode="json")
    return body
