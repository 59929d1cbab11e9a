"""The AI-module part of the store contract (`sigopt_service/store/runs.py` docstring):
projects, training runs, checkpoints, run on every store in STORE_MODES."""

from __future__ import annotations

import pytest

from sigopt_service.errors import AlreadyObserved, RecordExists, RecordNotFound
from sigopt_service.models import MetricEvaluation, SuggestionState
from sigopt_service.run_models import RunState
from sigopt_service.store import BaseStore, ExperimentListing, NewProject, NewTrainingRun
from tests.sigopt_service.store.helpers import new_experiment, observed


def _run(eid: int | None = None, sid: int | None = None, **document: object) -> NewTrainingRun:
    return NewTrainingRun(
        project="p", experiment=eid, suggestion=sid, document={"name": "r", **document}
    )


class TestProjects:
    """A project is keyed by its creator's id; a taken id or an unknown one is an error."""

    def test_create_fetch_update_list(self, store: BaseStore) -> None:
        """Created with its name and metadata; updates replace fields and move `updated`."""
        made = store.create_project(NewProject(id="p-1", name="One", metadata={"k": 1}))
        assert (made.id, made.name, made.metadata, made.deleted) == ("p-1", "One", {"k": 1}, False)
        assert store.get_project("p-1") == made
        store.create_project(NewProject(id="p-2", name="Two"))
        changed = store.update_project("p-1", {"name": "Uno", "metadata": None, "deleted": True})
        assert (changed.name, changed.metadata, changed.deleted) == ("Uno", None, True)
        assert changed.updated >= made.updated
        assert [p.id for p in store.all_projects()] == ["p-1", "p-2"]
        assert store.get_project("p-1").deleted

    def test_taken_and_unknown_ids(self, store: BaseStore) -> None:
        """A second project of an id is `RecordExists`; an unknown id `RecordNotFound`."""
        store.create_project(NewProject(id="p", name="P"))
        with pytest.raises(RecordExists, match="`p` already exists"):
            store.create_project(NewProject(id="p", name="again"))
        with pytest.raises(RecordNotFound, match="No project q"):
            store.get_project("q")
        with pytest.raises(RecordNotFound):
            store.update_project("q", {"name": "x"})
        with pytest.raises(ValueError):
            store.update_project("p", {"id": "other"})

    def test_experiments_listed_by_project_and_kind(self, store: BaseStore) -> None:
        """`ExperimentListing` keeps one project's experiments, and AI or classic ones."""
        classic = store.create_experiment(new_experiment().model_copy(update={"project": "p"}))
        ai = store.create_experiment(
            new_experiment().model_copy(update={"project": "p", "runs_only": True})
        )
        store.create_experiment(new_experiment())
        assert store.get_experiment(int(ai.id)).runs_only and not classic.runs_only

        def ids(**kw: object) -> list[str]:
            page = store.list_experiments(listing=ExperimentListing(**kw))  # type: ignore[arg-type]
            return [e.id for e in page.items]

        assert ids(project="p") == [ai.id, classic.id]
        assert ids(project="p", runs_only=True) == [ai.id]
        assert classic.id in ids(runs_only=False) and ai.id not in ids(runs_only=False)


class TestTrainingRuns:
    """Runs keep their document as given; state, project and suggestion are updated;
    `completed` is set once; an observation is stored with its run or not at all."""

    def test_create_fetch_and_document_kept(self, store: BaseStore, eid: int) -> None:
        sid = int(store.create_suggestion(eid, {"x": 0.5}).id)
        run, observation = store.create_training_run(
            _run(
                eid, sid, assignments={"x": 0.5}, metadata={"a": "b"}, logs={"o": {"content": "t"}}
            )
        )
        assert observation is None
        assert (run.experiment, run.suggestion, run.project) == (str(eid), str(sid), "p")
        assert (run.name, run.assignments, run.metadata) == ("r", {"x": 0.5}, {"a": "b"})
        assert run.logs == {"o": {"content": "t"}} and run.state is RunState.ACTIVE
        assert run.completed is None and run.created > 0 and not run.finished
        assert store.get_training_run(int(run.id)) == run
        second = store.create_training_run(_run())[0]
        assert int(second.id) > int(run.id) and second.experiment is None
        with pytest.raises(RecordNotFound, match="No training run 999"):
            store.get_training_run(999)

    def test_update_replaces_and_completes_once(self, store: BaseStore) -> None:
        """`document` replaces the whole document; the first final state sets `completed`,
        which a later state keeps."""
        run = store.create_training_run(_run(metadata={"a": 1}))[0]
        rid = int(run.id)
        done, _ = store.update_training_run(
            rid, {"document": {"name": "r2", "values": {"y": {"name": "y", "value": 2.0}}}}
        )
        assert done.name == "r2" and done.metadata is None
        assert done.values["y"].value == 2.0 and done.completed is None
        failed, _ = store.update_training_run(rid, {"state": RunState.FAILED})
        assert failed.state is RunState.FAILED and failed.completed is not None
        again, _ = store.update_training_run(rid, {"state": "active", "project": "q"})
        assert again.completed == failed.completed and again.project == "q"
        with pytest.raises(ValueError):
            store.update_training_run(rid, {"deleted": True})

    def test_observation_with_its_run_or_not_at_all(self, store: BaseStore, eid: int) -> None:
        """The run's observation closes its suggestion and is linked, in one step; naming
        a closed suggestion stores neither the run nor the update."""
        sid = int(store.create_suggestion(eid, {"x": 0.5}).id)
        rid = int(store.create_training_run(_run(eid, sid))[0].id)
        updated, made = store.update_training_run(
            rid, {"state": "completed"}, observed(suggestion=sid, value=3.0)
        )
        assert made is not None and updated.observation == made.id and updated.finished
        assert store.get_suggestion(eid, sid).state is SuggestionState.CLOSED
        assert store.observation_count(eid) == 1 and store.open_suggestion_count(eid) == 0
        best = store.best_observation(eid)
        assert best is not None and best.id == made.id
        other = int(store.create_training_run(_run(eid, sid))[0].id)
        with pytest.raises(AlreadyObserved):
            store.update_training_run(other, {"state": "failed"}, observed(suggestion=sid))
        assert store.get_training_run(other).state is RunState.ACTIVE
        runs_before = len(store.all_training_runs(experiment=eid))
        with pytest.raises(AlreadyObserved):
            store.create_training_run(_run(eid, sid), observed(suggestion=sid))
        assert len(store.all_training_runs(experiment=eid)) == runs_before
        upload, made2 = store.create_training_run(
            _run(eid).model_copy(update={"state": RunState.COMPLETED}), observed(value=9.0)
        )
        assert made2 is not None and upload.observation == made2.id and upload.completed
        assert store.observation_count(eid) == 2

    def test_delete_flags_suggestion_and_observation(self, store: BaseStore, eid: int) -> None:
        """Deleting a run deletes its suggestion and observation; un-deleting restores all."""
        sid = int(store.create_suggestion(eid, {"x": 0.5}).id)
        rid = int(store.create_training_run(_run(eid, sid))[0].id)
        made = store.update_training_run(rid, {"state": "completed"}, observed(sid))[1]
        assert made is not None
        gone = store.set_training_run_deleted(rid, True)
        assert gone.deleted and store.get_training_run(rid).deleted
        assert store.get_observation(eid, int(made.id)).deleted
        assert store.get_suggestion(eid, sid).deleted and store.observation_count(eid) == 0
        assert store.training_run_counts(eid).total == 0
        back = store.set_training_run_deleted(rid, False)
        assert not back.deleted and not store.get_observation(eid, int(made.id)).deleted
        assert store.observation_count(eid) == 1 and store.training_run_counts(eid).finished == 1

    def test_counts_listing_and_experiment_delete(self, store: BaseStore, eid: int) -> None:
        """Counts are of non-deleted runs; `all_training_runs` lists by project and/or
        experiment, oldest first; deleting an experiment's runs deletes its history."""
        other = int(store.create_experiment(new_experiment("o")).id)
        sids = [int(store.create_suggestion(eid, {"x": 0.1}).id) for _ in range(3)]
        rids = [int(store.create_training_run(_run(eid, s))[0].id) for s in sids]
        store.update_training_run(rids[0], {"state": "completed"}, observed(sids[0]))
        store.create_training_run(_run(other))
        store.create_training_run(NewTrainingRun(project="q", document={"name": "q"}))
        counts = store.training_run_counts(eid)
        assert (counts.active, counts.finished, counts.total) == (2, 1, 3)
        assert [int(r.id) for r in store.all_training_runs(experiment=eid)] == rids
        assert len(store.all_training_runs(project="p")) == 4
        assert len(store.all_training_runs(project="q")) == 1
        assert len(store.all_training_runs()) == 5
        assert store.delete_experiment_training_runs(eid) == 3
        assert store.training_run_counts(eid).total == 0
        assert store.observation_count(eid) == 0 and store.open_suggestion_count(eid) == 0
        assert store.training_run_counts(other).total == 1


class TestCheckpoints:
    """Checkpoints append to a run, newest first in lists, counted on the run."""

    def test_create_list_fetch(self, store: BaseStore) -> None:
        rid = int(store.create_training_run(_run())[0].id)
        made = [
            store.create_checkpoint(rid, [MetricEvaluation(name="y", value=float(i))], {"i": i})
            for i in range(3)
        ]
        assert made[0].training_run == str(rid) and made[0].metadata == {"i": 0}
        assert store.get_training_run(rid).checkpoint_count == 3
        page = store.list_checkpoints(rid, limit=2)
        assert [c.id for c in page.items] == [made[2].id, made[1].id]
        assert (page.count, page.has_more) == (3, True)
        rest = store.list_checkpoints(rid, cursor=int(made[1].id))
        assert [c.id for c in rest.items] == [made[0].id]
        assert store.get_checkpoint(rid, int(made[1].id)) == made[1]
        other = int(store.create_training_run(_run())[0].id)
        with pytest.raises(RecordNotFound):
            store.get_checkpoint(other, int(made[1].id))
        with pytest.raises(RecordNotFound):
            store.create_checkpoint(999, [], None)
