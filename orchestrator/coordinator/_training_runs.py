"""A SigOpt training run for each evaluation, so scripts written for `sigopt optimize` run
unchanged: the command's environment carries the run as the `sigopt` CLI passes it
(`SIGOPT_CONTEXT`, with `SIGOPT_API_URL` and `SIGOPT_API_TOKEN`), so `sigopt.params.x`
reads the suggestion's assignments and `sigopt.log_metric` logs to the run.

Exactly one observation per suggestion: the service never turns a classic experiment's
run into an observation; the coordinator reports it as every other outcome, from the run
and the command together (`combined`):

1. the command failed by itself (non-zero exit, killed, deadline, inactive parameter):
   that failure, whatever the run logged;
2. the run logged a failure (`sigopt.log_failure()`): failed, reason `run_failed`;
3. the run logged metrics: those (the experiment's), over stdout JSON and the result file;
4. otherwise what the command printed or wrote, as without a run.

The run then gets its final state (`completed` / `failed`) so it reads as finished.
A service without training runs (a 404) is told once and the rest of the run goes
without; a run that cannot be made or read otherwise costs only the `sigopt` view of
that one evaluation (logged), never the evaluation.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import structlog

from orchestrator.client import ServiceClient
from orchestrator.coordinator._model import RunEnvironment
from orchestrator.errors import ServiceError, ServiceRejected
from sigopt_service.models import Suggestion
from sigopt_service.run_models import RunState, TrainingRun
from workers.base import Completed, Failed, MetricValue, Outcome

log = structlog.get_logger()

#: Failures of the command itself, which no logged metric overrides.
COMMAND_FAILURES = frozenset({"exit_code", "signal", "timeout", "inactive_parameter"})
#: The environment variable the `sigopt` client reads its run from (`sigopt/config.py`).
CONTEXT_VARIABLE = "SIGOPT_CONTEXT"
#: Bound on reading and finishing a run once its command has ended (`finish`).
FINISH_TIMEOUT_S = 30.0


def run_environment(run: TrainingRun, where: RunEnvironment) -> dict[str, str]:
    """What the `sigopt` client in a command needs to take `run` as its global run."""
    context = {"global_run_context": {"run": run.model_dump(mode="json")}}
    env = {
        "SIGOPT_API_URL": where.url,
        "SIGOPT_API_TOKEN": where.token,
        CONTEXT_VARIABLE: base64.b64encode(json.dumps(context).encode()).decode(),
        "SIGOPT_RUN_ID": run.id,
    }
    if run.project is not None:
        env["SIGOPT_PROJECT"] = run.project
    return env


def combined(outcome: Outcome, run: TrainingRun, metric_names: list[str | None]) -> Outcome:
    """The evaluation's outcome from the command's and what its run logged (module
    docstring, rules 1 to 4)."""
    if isinstance(outcome, Failed) and outcome.reason in COMMAND_FAILURES:
        return outcome
    if run.state is RunState.FAILED:
        return Failed(
            reason="run_failed",
            details={"message": f"the command logged a failure to training run {run.id}"},
        )
    named = {n for n in metric_names if n is not None}
    logged = [v for name, v in run.values.items() if name in named]
    if not logged and len(metric_names) == 1 and len(run.values) == 1:
        logged = list(run.values.values())  # the experiment's one (unnamed) metric
    values = [
        MetricValue(v.name, float(v.value), v.value_stddev) for v in logged if v.value is not None
    ]
    return Completed(values=tuple(values)) if values else outcome


class RunBinder:
    """Makes and finishes the training run of each evaluation of one experiment."""

    def __init__(self, client: ServiceClient, experiment_id: str, where: RunEnvironment) -> None:
        self._client = client
        self._eid = experiment_id
        self._where = where
        self._offered = True
        self._metric_names: list[str | None] | None = None

    def __repr__(self) -> str:
        return f"RunBinder(experiment={self._eid}, offered={self._offered})"

    async def bind(self, suggestion: Suggestion) -> tuple[TrainingRun | None, Mapping[str, str]]:
        """The suggestion's new run and the environment that carries it; `(None, {})`
        when there is none."""
        if not self._offered:
            return None, {}
        try:
            run = await self._client.runs.create_for_suggestion(
                self._eid, suggestion.id, name=f"suggestion {suggestion.id}"
            )
        except ServiceRejected as exc:
            if exc.status in (404, 405):
                self._offered = False
                log.info("training_runs_not_offered", status=exc.status)
            else:
                log.warning("training_run_not_created", status=exc.status, error=exc.message)
            return None, {}
        except ServiceError as exc:
            log.warning("training_run_not_created", error=str(exc)[:300])
            return None, {}
        return run, run_environment(run, self._where)

    async def finish(self, run: TrainingRun | None, outcome: Outcome) -> Outcome:
        """The outcome with what `run` logged (`combined`); the run gets its final state."""
        if run is None:
            return outcome
        try:
            names = await self._names()
            logged = await self._client.runs.get(run.id)
            result = combined(outcome, logged, names)
            state = RunState.FAILED if isinstance(result, Failed) else RunState.COMPLETED
            if logged.state is not state:
                await self._client.runs.finish(run.id, state)
        except ServiceError as exc:
            log.warning("training_run_not_read", run=run.id, error=str(exc)[:300])
            return outcome
        return result

    async def _names(self) -> list[str | None]:
        if self._metric_names is None:
            experiment = await self._client.get_experiment(self._eid)
            self._metric_names = [m.name for m in experiment.metrics]
        return self._metric_names


def binder_for(
    client: ServiceClient, experiment_id: str, where: RunEnvironment | None
) -> RunBinder | None:
    """The experiment's binder when the settings ask for runs (`training_runs`)."""
    return None if where is None else RunBinder(client, experiment_id, where)
