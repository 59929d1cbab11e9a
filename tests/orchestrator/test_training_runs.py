"""The training run each evaluation of a `takes_environment` kind gets
(`orchestrator/coordinator/_training_runs.py`): the environment the `sigopt` client reads,
how the run's log and the command's outcome combine, and a service without runs."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sigopt.objects import TrainingRun as ClientRun
from structlog.testing import capture_logs

from orchestrator.client import ServiceClient
from orchestrator.coordinator import RunEnvironment
from orchestrator.coordinator._training_runs import (
    CONTEXT_VARIABLE,
    RunBinder,
    combined,
    run_environment,
)
from orchestrator.in_process import InProcessTransport
from orchestrator.transport import MockTransport, TransportResponse
from sigopt_service.config import ServiceConfig
from sigopt_service.models import MetricEvaluation, Suggestion
from sigopt_service.run_models import RunState, TrainingRun
from tests.orchestrator.client.fake_sigopt import client_for
from workers.base import Completed, Failed, MetricValue

WHERE = RunEnvironment("http://127.0.0.1:1", "tok")


def _run(**fields: Any) -> TrainingRun:
    return TrainingRun(id="5", experiment="1", suggestion="2", **fields)


def _value(name: str, value: float) -> MetricEvaluation:
    return MetricEvaluation(name=name, value=value)


class TestCombined:
    """The rules of the module docstring, in order."""

    def test_command_failure_wins(self) -> None:
        exited = Failed(reason="exit_code", details={"exit_code": 3})
        run = _run(values={"y": _value("y", 1.0)}, state=RunState.FAILED)
        assert combined(exited, run, ["y"]) is exited

    def test_logged_failure_then_logged_metrics(self) -> None:
        printed = Completed(values=(MetricValue(None, -5.0),))
        failed = combined(printed, _run(state=RunState.FAILED), ["y"])
        assert isinstance(failed, Failed) and failed.reason == "run_failed"
        logged = _run(values={"y": _value("y", 2.0), "extra": _value("extra", 9.0)})
        assert combined(printed, logged, ["y"]) == Completed(values=(MetricValue("y", 2.0),))
        no_metric = Failed(reason="no_metric")
        assert combined(no_metric, logged, ["y"]) == Completed(values=(MetricValue("y", 2.0),))

    def test_nothing_logged_keeps_the_commands_outcome(self) -> None:
        printed = Completed(values=(MetricValue(None, -5.0),))
        assert combined(printed, _run(), ["y"]) is printed
        one = _run(values={"anything": _value("anything", 4.0)})
        assert combined(printed, one, [None]) == Completed(values=(MetricValue("anything", 4.0),))


def test_environment_is_what_the_sigopt_client_reads() -> None:
    """`SIGOPT_CONTEXT` decodes to the client's own run object with the assignments."""
    run = _run(assignments={"x": 0.5, "kind": "a"}, project="p")
    env = run_environment(run, WHERE)
    assert (env["SIGOPT_API_URL"], env["SIGOPT_API_TOKEN"]) == (WHERE.url, "tok")
    assert (env["SIGOPT_RUN_ID"], env["SIGOPT_PROJECT"]) == ("5", "p")
    context = json.loads(base64.b64decode(env[CONTEXT_VARIABLE]))
    client_run = ClientRun(context["global_run_context"]["run"])
    assert client_run.id == "5" and dict(client_run.assignments) == {"x": 0.5, "kind": "a"}
    assert "tok" not in repr(WHERE)


@pytest.fixture
async def client() -> AsyncIterator[ServiceClient]:
    async with (
        InProcessTransport(ServiceConfig(db=None, seed=1)) as transport,
        ServiceClient("in-process", transport=transport) as made,
    ):
        yield made


class TestBinder:
    """Against the real service: a run per suggestion, finished from the outcome; no
    observation of its own (the coordinator reports it)."""

    async def test_bind_and_finish(self, client: ServiceClient) -> None:
        experiment = await client.create_experiment(
            {
                "name": "e",
                "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
                "metrics": [{"name": "y"}],
                "observation_budget": 3,
            }
        )
        suggestion = await client.suggest(experiment.id)
        binder = RunBinder(client, experiment.id, WHERE)
        run, env = await binder.bind(suggestion)
        assert run is not None and run.suggestion == suggestion.id
        assert run.assignments == suggestion.assignments and CONTEXT_VARIABLE in env
        await client._call(  # what `sigopt.log_metric` sends
            "MERGE", f"/training_runs/{run.id}", json={"values": {"y": {"value": 0.7}}}
        )
        outcome = await binder.finish(run, Failed(reason="no_metric"))
        assert outcome == Completed(values=(MetricValue("y", 0.7),))
        finished = await client.runs.get(run.id)
        assert finished.state is RunState.COMPLETED and finished.observation is None
        assert await client.observations(experiment.id) == []
        assert [r.id for r in await client.runs.of_experiment(experiment.id)] == [run.id]

    async def test_service_without_runs_is_told_once(self) -> None:
        """A 404 turns runs off for the rest of the experiment; evaluations go on."""

        def handler(method: str, path: str, params: Any, body: Any) -> TransportResponse:
            return TransportResponse(404, {"message": "Endpoint not found", "status": 404})

        transport = MockTransport(handler)
        binder = RunBinder(client_for(transport), "1", WHERE)
        suggestion = Suggestion(id="2", experiment="1", assignments={"x": 1})
        with capture_logs() as logs:
            assert await binder.bind(suggestion) == (None, {})
            assert await binder.bind(suggestion) == (None, {})
        assert transport.count("POST") == 1
        assert [e["event"] for e in logs] == ["training_runs_not_offered"]
        kept = Failed(reason="no_metric")
        assert await binder.finish(None, kept) is kept


async def test_ai_runs_are_observations_the_client_reads(client: ServiceClient) -> None:
    """A finished AI run is an observation for every reader of the classic API, the
    orchestrator's client included (its observations and best assignments)."""
    await client._call("POST", "/clients/1/projects", json={"id": "p", "name": "P"})
    body = {
        "name": "ai",
        "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
        "metrics": [{"name": "y"}],
        "budget": 2,
    }
    made = await client._call("POST", "/clients/1/projects/p/aiexperiments", json=body)
    eid = made.body["id"]
    run = await client._call("POST", f"/aiexperiments/{eid}/training_runs", json={"name": "r"})
    done = await client._call(
        "MERGE",
        f"/training_runs/{run.body['id']}",
        json={"values": {"y": {"value": 0.25}}, "state": "completed"},
    )
    observations = await client.observations(eid)
    assert [o.id for o in observations] == [done.body["observation"]]
    assert observations[0].suggestion == run.body["suggestion"]
    assert [b.values[0].value for b in await client.best_assignments(eid)] == [0.25]
