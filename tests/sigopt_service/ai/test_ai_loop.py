"""SigOpt's AI module through the official client 8.8.3 (`SigOptFactory`, the object behind
`sigopt.create_experiment`, `sigopt.create_run`, ...): the documented loop to its budget,
failures, best runs, runs outside an experiment, archiving, updates, checkpoints."""

from __future__ import annotations

import pytest
from sigopt import Connection
from sigopt.exception import ApiException
from sigopt.factory import SigOptFactory

from tests.sigopt_service.ai.conftest import AI_EXPERIMENT

# The official client (or the coordinator) end to end, on SQLite and on PostgreSQL.
pytestmark = pytest.mark.postgres_too


def _accuracy(lr: float, depth: int) -> float:
    return 1.0 - (lr - 0.1) ** 2 - 0.01 * (depth - 3) ** 2


class TestLoop:
    """`experiment.loop()` ends at the budget; every run became an observation."""

    def test_loop_to_budget_with_failures(self, factory: SigOptFactory, conn: Connection) -> None:
        """1. Create the experiment in the project. 2. Loop: two runs log failure, one
        raises inside `with run` (the client marks it failed), the rest log the metric.
        3. The loop stopped at the budget; progress and observations agree. 4. The best
        run is the best observation's, and `best_assignments` agree."""
        experiment = factory.create_experiment(**AI_EXPERIMENT)
        assert (experiment.budget, experiment.parallel_bandwidth) == (8, 4)
        assert experiment.project == "proj" and experiment.progress.remaining_budget == 8
        seen = []
        for i, run in enumerate(experiment.loop()):
            try:
                with run:
                    lr, depth = run.params.lr, run.params.depth
                    assert 0.001 <= lr <= 1.0 and isinstance(depth, int)
                    seen.append(run.id)
                    if i in (1, 4):
                        run.log_failure()
                    elif i == 6:
                        raise RuntimeError("diverged")
                    else:
                        run.log_metric("accuracy", _accuracy(lr, depth))
                        run.log_metadata("epochs", 3)
            except RuntimeError:
                pass
        assert len(seen) == 8
        experiment.refresh()
        progress = experiment.progress
        assert (progress.finished_run_count, progress.active_run_count) == (8, 0)
        assert (progress.total_run_count, progress.remaining_budget) == (8, 0)
        assert experiment.is_finished()
        observations = list(conn.experiments(experiment.id).observations().fetch().iterate_pages())
        assert len(observations) == 8 and sum(o.failed for o in observations) == 3
        runs = {r.id: r for r in experiment.get_runs()}
        assert sorted(runs) == sorted(seen)
        assert {r.observation for r in runs.values()} == {o.id for o in observations}
        assert all(r.state in ("completed", "failed") and r.finished for r in runs.values())
        assert sum(r.state == "failed" for r in runs.values()) == 3
        best = list(experiment.get_best_runs())
        assert len(best) == 1
        top = max((o for o in observations if not o.failed), key=lambda o: o.value)
        assert best[0].observation == top.id
        assert best[0].values["accuracy"].value == top.value
        assert best[0].metadata["epochs"] == 3
        assignments = list(
            conn.experiments(experiment.id).best_assignments().fetch().iterate_pages()
        )
        assert assignments[0].id == top.id

    def test_runs_carry_the_optimizers_and_queued_assignments(
        self, factory: SigOptFactory, conn: Connection
    ) -> None:
        """A loop's run gets a suggestion's assignments, marked as the optimizer's; queued
        assignments (the classic API on the same experiment) are served first."""
        experiment = factory.create_experiment(**AI_EXPERIMENT)
        conn.experiments(experiment.id).queued_suggestions().create(
            assignments={"lr": 0.5, "depth": 2}
        )
        run = experiment.create_run()
        assert dict(run.params) == {"lr": 0.5, "depth": 2}
        fetched = conn.training_runs(run.id).fetch()
        assert fetched.experiment == experiment.id and fetched.suggestion is not None
        assert fetched.to_json()["assignments_meta"]["lr"]["source"] == "SigOpt"
        with pytest.raises(ValueError, match="cannot be changed"):
            run.params.lr = 0.2  # the client keeps a suggestion's assignments fixed

    def test_classic_views_of_an_ai_experiment(
        self, factory: SigOptFactory, conn: Connection
    ) -> None:
        """Fetched as an experiment it redirects to its AI URL; classic lists leave it out
        unless `include_ai`; a classic experiment is no AI experiment (404)."""
        experiment = factory.create_experiment(**AI_EXPERIMENT)
        via_classic = conn.experiments(experiment.id).fetch()
        assert via_classic.to_json()["object"] == "aiexperiment"
        assert "observation_budget" not in via_classic.to_json()
        listed = [e.id for e in conn.experiments().fetch().iterate_pages()]
        assert experiment.id not in listed
        with_ai = [e.id for e in conn.experiments().fetch(include_ai=True).iterate_pages()]
        assert experiment.id in with_ai
        assert [e.id for e in conn.aiexperiments().fetch().iterate_pages()] == [experiment.id]
        in_project = conn.clients("1").projects("proj").aiexperiments().fetch()
        assert [e.id for e in in_project.iterate_pages()] == [experiment.id]
        classic = conn.experiments().create(name="c", parameters=AI_EXPERIMENT["parameters"])
        with pytest.raises(ApiException) as refused:
            conn.aiexperiments(classic.id).fetch()
        assert refused.value.status_code == 404


class TestRunsAndArchive:
    """Runs outside an experiment, archiving and un-archiving, updates, checkpoints."""

    def test_create_run_outside_an_experiment(
        self, factory: SigOptFactory, conn: Connection
    ) -> None:
        """`sigopt.create_run`: params the user sets, metrics, a completed state."""
        with factory.create_run(name="by hand") as run:
            run.params.lr = 0.01
            run.params.update({"optimizer": "adam"})
            run.log_metric("loss", 0.25, stddev=0.5)
            run.log_metrics({"f1": 0.75})
            run.log_model("resnet")
            run.log_dataset("mnist")
        fetched = factory.get_run(run.id)
        assert (fetched.name, fetched.state, fetched.experiment) == ("by hand", "completed", None)
        assert dict(fetched.assignments) == {"lr": 0.01, "optimizer": "adam"}
        assert fetched.values["loss"].value == 0.25 and fetched.values["loss"].value_stddev == 0.5
        assert fetched.values["f1"].value == 0.75 and fetched.model.type == "resnet"
        assert fetched.to_json()["datasets"] == {"mnist": {"object": "dataset"}}
        assert fetched.project == "proj" and fetched.finished
        project = conn.clients("1").projects("proj").fetch()
        assert project.to_json()["training_run_count"] == 1

    def test_archive_and_unarchive(self, factory: SigOptFactory, conn: Connection) -> None:
        """Archiving a run deletes it and its observation; un-archiving restores both.
        Archiving the experiment with its runs deletes them; un-archiving the experiment
        leaves them deleted (as sigopt-server)."""
        experiment = factory.create_experiment(**{**AI_EXPERIMENT, "budget": 2})
        for run in experiment.loop():
            with run:
                run.log_metric("accuracy", 0.5)
        first = next(iter(experiment.get_runs()))
        factory.archive_run(first.id)
        assert factory.get_run(first.id).deleted
        assert conn.experiments(experiment.id).observations().fetch(limit=0).count == 1
        experiment.refresh()
        assert experiment.progress.total_run_count == 1
        factory.unarchive_run(first.id)
        assert conn.experiments(experiment.id).observations().fetch(limit=0).count == 2
        factory.archive_experiment(experiment.id, include_runs=True)
        assert conn.aiexperiments(experiment.id).fetch().state == "deleted"
        assert all(r.deleted for r in experiment.get_runs())
        factory.unarchive_experiment(experiment.id)
        assert conn.aiexperiments(experiment.id).fetch().state == "active"
        with pytest.raises(ApiException) as refused:
            conn.aiexperiments(experiment.id).delete(include_runs="maybe")
        assert refused.value.status_code == 400

    def test_update_budget_and_refusals(self, factory: SigOptFactory, conn: Connection) -> None:
        """`budget` updates; the classic `observation_budget` and a project are refused,
        naming the key; a bad budget names `budget`."""
        experiment = factory.create_experiment(**AI_EXPERIMENT)
        updated = experiment.update(
            budget=12, name="renamed", metadata={"k": "v"}, parameters=AI_EXPERIMENT["parameters"]
        )
        assert (updated.budget, updated.name, updated.metadata["k"]) == (12, "renamed", "v")
        assert updated.progress.remaining_budget == 12
        for body, field in (
            ({"observation_budget": 3}, "observation_budget"),
            ({"budget": 0}, "budget"),
            ({"budget": "ten"}, "budget"),
        ):
            with pytest.raises(ApiException) as refused:
                conn.aiexperiments(experiment.id).update(**body)
            assert refused.value.status_code == 400
            assert refused.value.to_json()["field"] == field

    def test_checkpoints(self, factory: SigOptFactory, conn: Connection) -> None:
        """Checkpoints of the experiment's metrics are logged and listed; none once the
        run became an observation."""
        experiment = factory.create_experiment(**AI_EXPERIMENT)
        run = experiment.create_run()
        for epoch in range(3):
            run.log_checkpoint({"accuracy": 0.1 * epoch})
        listed = list(conn.training_runs(run.id).checkpoints().fetch().iterate_pages())
        assert [c.values[0].value for c in listed] == pytest.approx([0.2, 0.1, 0.0])
        assert conn.training_runs(run.id).fetch().checkpoint_count == 3
        with pytest.raises(ApiException) as refused:
            conn.training_runs(run.id).checkpoints().create(values=[{"name": "nope", "value": 1}])
        assert refused.value.status_code == 400
        run.log_metric("accuracy", 0.3)
        run.end()
        with pytest.raises(ApiException) as late:
            run.log_checkpoint({"accuracy": 0.4})
        assert late.value.status_code == 409
