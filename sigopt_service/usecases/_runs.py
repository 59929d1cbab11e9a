"""Training run use cases on the store thread: create (in a project, in an AI experiment,
or for a classic experiment's suggestion), fetch, update (PUT and MERGE), delete, list.

A run of an AI experiment is that experiment's suggestion: creating it serves one (the
queue's oldest, else the optimizer's, or the assignments the run brings), and when it
reaches `completed` or `failed` it becomes the suggestion's observation, in the same
transaction as the update (`_observation_due`), so the optimizer, `best_assignments`, the
pages and any coordinator see it as any other. A run of a classic experiment's suggestion
(what `orchestrator run` gives each command) never does: whoever asked for the suggestion
reports it (sigopt-server's rule: only an AI run's "automatic" suggestion is observed
for it).
"""

from __future__ import annotations

from typing import Any

from sigopt_service.errors import InvalidRequest, NotFound, RecordNotFound
from sigopt_service.models import (
    Experiment,
    ExperimentState,
    MetricEvaluation,
    SuggestionState,
)
from sigopt_service.run_models import RunState, TrainingRun
from sigopt_service.store import NewObservation, NewTrainingRun, Page, RunListing
from sigopt_service.usecases._core import Core
from sigopt_service.validation import parse_id, validate_assignments
from sigopt_service.validation.training_run import (
    OPTIMIZED_SOURCE,
    RunBody,
    merged_document,
    validate_run_body,
)

#: sigopt-server's `MAX_RUNS_BATCH_CREATE_COUNT`.
MAX_BATCH_RUNS = 10_000


def invalid_value(field: str, detail: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid value for `{field}`: {detail}", field=field, code="invalid_value"
    )


def _first_document(parsed: RunBody) -> dict[str, Any]:
    return merged_document({}, parsed.document, merge=False)


def _observation_from(
    experiment: Experiment, document: dict[str, Any], state: RunState, suggestion: int | None
) -> NewObservation:
    """A finished run as an observation: its values when it logged one for every metric
    and did not fail; otherwise a failed one (sigopt-server's `get_observation_values`)."""
    logged = document.get("values", {})
    values = [
        MetricEvaluation(
            name=m.name,
            value=logged[m.name]["value"],
            value_stddev=logged[m.name].get("value_stddev"),
        )
        for m in experiment.metrics
        if m.name in logged
    ]
    failed = state is RunState.FAILED or len(values) != len(experiment.metrics)
    assignments = None
    if suggestion is None:
        assignments = validate_assignments(experiment, _relevant(experiment, document))
    return NewObservation(
        suggestion=suggestion,
        assignments=assignments,
        values=[] if failed else values,
        failed=failed,
    )


def _relevant(experiment: Experiment, document: dict[str, Any]) -> dict[str, Any]:
    """The run's assignments of the experiment's parameters and conditionals."""
    names = {p.name for p in experiment.parameters} | {c["name"] for c in experiment.conditionals}
    return {k: v for k, v in document.get("assignments", {}).items() if k in names}


def _optimized(document: dict[str, Any], names: list[str]) -> None:
    """Mark assignments the optimizer chose, as sigopt-server does (source `SigOpt`)."""
    meta = document.setdefault("assignments_meta", {})
    for name in names:
        meta[name] = {"source": OPTIMIZED_SOURCE}
    document.setdefault("assignments_sources", {})[OPTIMIZED_SOURCE] = {
        "default_show": True,
        "sort": 1,
    }


# -- create -------------------------------------------------------------------------------
def _project_of(core: Core, project_id: str) -> str:
    core.store.get_project(project_id)  # RecordNotFound: "No project x"
    return project_id


def create_in_project(core: Core, project_id: str, body: dict[str, Any]) -> TrainingRun:
    """`sigopt.create_run` outside an experiment: a run of the project, params its own."""
    project = _project_of(core, project_id)
    parsed = validate_run_body(body, creating=True)
    new = NewTrainingRun(
        project=project, state=parsed.state or RunState.ACTIVE, document=_first_document(parsed)
    )
    return core.store.create_training_run(new)[0]


def create_batch_in_project(core: Core, project_id: str, body: dict[str, Any]) -> list[TrainingRun]:
    """`upload_runs`: every run checked first, then each stored."""
    project = _project_of(core, project_id)
    runs = body.get("runs")
    if not isinstance(runs, list):
        raise invalid_value("runs", "expected a list of runs")
    if len(runs) > MAX_BATCH_RUNS:
        raise invalid_value("runs", f"at most {MAX_BATCH_RUNS} runs per batch")
    checked: list[NewTrainingRun] = []
    for i, item in enumerate(runs):
        if not isinstance(item, dict):
            raise invalid_value(f"runs[{i}]", "expected an object")
        try:
            parsed = validate_run_body(item, creating=True)
            document = _first_document(parsed)
        except InvalidRequest as exc:
            raise InvalidRequest(
                f"runs[{i}]: {exc.message}",
                field=f"runs[{i}].{exc.field}" if exc.field else f"runs[{i}]",
                code=exc.code,
            ) from exc
        state = parsed.state or RunState.ACTIVE
        checked.append(NewTrainingRun(project=project, state=state, document=document))
    return [core.store.create_training_run(new)[0] for new in checked]


def ai_experiment(core: Core, eid: int) -> Experiment:
    """The AI experiment `eid` (404 for a classic one: sigopt-server's `find_objects`)."""
    experiment = core.experiment(eid)
    if not experiment.runs_only:
        raise NotFound(f"The AiExperiment {eid} does not exist")
    return experiment


def create_in_aiexperiment(core: Core, eid: int, body: dict[str, Any]) -> TrainingRun:
    """`experiment.loop()` / `create_run`: a run with a new suggestion's assignments (or,
    given the experiment's assignments, a suggestion of them); a run created finished (an
    upload) becomes an observation of its own assignments at once."""
    experiment = ai_experiment(core, eid)
    if experiment.state is ExperimentState.DELETED:
        raise InvalidRequest(f"Cannot create training runs for deleted experiment {eid}")
    parsed = validate_run_body(body, creating=True)
    document = _first_document(parsed)
    state = parsed.state or RunState.ACTIVE
    new = NewTrainingRun(project=experiment.project, experiment=eid, state=state)
    if state.is_finished():
        observation = _observation_from(experiment, document, state, None)
        run, created = core.store.create_training_run(
            new.model_copy(update={"document": document}), observation
        )
        if created is not None:
            core.observations_stored(experiment, [created])
        return run
    given = _relevant(experiment, document)
    if given:
        assignments = validate_assignments(experiment, given)
        suggestion = core.store.create_suggestion(eid, assignments)
        core.history_changed(eid)  # a point the engine did not propose
    else:
        suggestion = core.suggest(experiment, None)
        _optimized(document, sorted(suggestion.assignments))
    document["assignments"] = {**document.get("assignments", {}), **suggestion.assignments}
    update = {"document": document, "suggestion": int(suggestion.id)}
    return core.store.create_training_run(new.model_copy(update=update))[0]


def create_for_suggestion(core: Core, eid: int, body: dict[str, Any]) -> TrainingRun:
    """Our extension, `POST /experiments/{id}/training_runs` with `suggestion`: a run that
    carries an open suggestion's assignments, for a command that reads them through the
    `sigopt` client (`orchestrator run` makes one per evaluation). Its end makes no
    observation unless the experiment is an AI experiment: the caller reports it."""
    experiment = core.active_experiment(eid, "training runs")
    rest = {k: v for k, v in body.items() if k != "suggestion"}
    if body.get("suggestion") is None:
        raise InvalidRequest(
            "Missing required json key `suggestion`", field="suggestion", code="missing_key"
        )
    sid = parse_id(body["suggestion"], "suggestion", "suggestion")
    suggestion = core.store.get_suggestion(eid, sid)
    if suggestion.deleted or suggestion.state is not SuggestionState.OPEN:
        raise invalid_value("suggestion", f"suggestion {sid} is not open")
    parsed = validate_run_body(rest, creating=True)
    if parsed.state not in (None, RunState.ACTIVE):
        raise invalid_value("state", "a suggestion's run starts active")
    document = _first_document(parsed)
    document["assignments"] = {**document.get("assignments", {}), **suggestion.assignments}
    new = NewTrainingRun(
        project=experiment.project, experiment=eid, suggestion=sid, document=document
    )
    return core.store.create_training_run(new)[0]


# -- read, update, delete --------------------------------------------------------------------
def fetch(core: Core, run_id: int, eid: int | None = None) -> TrainingRun:
    """The run (deleted ones too); under an experiment's path, only a run of it."""
    run = core.store.get_training_run(run_id)
    if eid is not None and run.experiment != str(core.experiment(eid).id):
        raise RecordNotFound("training_run", run_id)
    return run


def _observation_due(
    core: Core, run: TrainingRun, document: dict[str, Any], state: RunState
) -> NewObservation | None:
    """The observation a run turns into now, if any: it reached a final state, belongs to
    an active AI experiment, has none yet, and its suggestion is still open."""
    if not state.is_finished() or run.observation is not None or run.suggestion is None:
        return None
    if run.experiment is None:
        return None
    experiment = core.experiment(int(run.experiment))
    if not experiment.runs_only or experiment.state is ExperimentState.DELETED:
        return None
    suggestion = core.store.get_suggestion(int(experiment.id), int(run.suggestion))
    if suggestion.deleted or suggestion.state is not SuggestionState.OPEN:
        return None
    return _observation_from(experiment, document, state, int(run.suggestion))


def update(
    core: Core, run_id: int, body: dict[str, Any], *, merge: bool, eid: int | None = None
) -> TrainingRun:
    """PUT (each field named replaced) or MERGE (objects merged); `deleted` flags the run
    with its suggestion and observation; a final state may make the observation."""
    run = fetch(core, run_id, eid)
    parsed = validate_run_body(body, creating=False)
    if parsed.deleted is not None and parsed.deleted is not run.deleted:
        run = core.store.set_training_run_deleted(run_id, parsed.deleted)
        if run.experiment is not None:
            core.history_changed(int(run.experiment))
    changes: dict[str, Any] = {}
    document = run.document()
    if parsed.document:
        document = merged_document(document, parsed.document, merge=merge)
        changes["document"] = document
    if parsed.state is not None:
        changes["state"] = parsed.state
    if parsed.project is not None and parsed.project != run.project:
        try:
            changes["project"] = _project_of(core, parsed.project)
        except RecordNotFound:
            raise invalid_value("project", f"Unknown project ID: {parsed.project}") from None
    observation = _observation_due(core, run, document, changes.get("state", run.state))
    if not changes and observation is None:
        return run
    updated, created = core.store.update_training_run(run_id, changes, observation)
    if created is not None:
        core.observations_stored(core.experiment(int(created.experiment)), [created])
    return updated


def delete(core: Core, run_id: int, eid: int | None = None) -> TrainingRun:
    """Soft: the run, its suggestion and its observation are flagged deleted."""
    fetch(core, run_id, eid)
    run = core.store.set_training_run_deleted(run_id, True)
    if run.experiment is not None:
        core.history_changed(int(run.experiment))
    return run


def listing(
    core: Core,
    *,
    project: str | None,
    experiment: int | None,
    order: RunListing,
    limit: int,
    cursor: int | None,
) -> Page[TrainingRun]:
    """The runs of a project (which must exist) or an experiment, in `order`."""
    if project is not None:
        _project_of(core, project)
    if experiment is not None:
        core.experiment(experiment)
    runs = core.store.all_training_runs(project=project, experiment=experiment)
    return Page(*order.page(runs, cursor, limit, find=core.store.get_training_run))
