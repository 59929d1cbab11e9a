"""The official `sigopt` client (PyPI 8.x) runs SigOpt's documented loop against our service.

Nothing changes but `api_url`: these tests are the compatibility contract.
"""

from __future__ import annotations

import math

import pytest
from sigopt import Connection
from sigopt.exception import ApiException


def branin(x1: float, x2: float) -> float:
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    return a * (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


EXPERIMENT = dict(
    name="Branin, official client",
    parameters=[
        dict(name="x1", type="double", bounds=dict(min=-5.0, max=10.0)),
        dict(name="x2", type="double", bounds=dict(min=0.0, max=15.0)),
        dict(name="kernel", type="categorical", categorical_values=["rbf", "linear"]),
        dict(name="depth", type="int", bounds=dict(min=1, max=8)),
    ],
    metrics=[dict(name="neg_branin", objective="maximize")],
    observation_budget=24,
    parallel_bandwidth=3,
)


class TestDocumentedLoop:
    """SigOpt's documented optimization loop completes unchanged but for `api_url`."""

    def test_loop_with_failures_paging_open_suggestions_and_best(self, conn: Connection) -> None:
        experiment = conn.experiments().create(**EXPERIMENT)
        assert experiment.id and isinstance(experiment.id, str)
        assert [p.name for p in experiment.parameters] == ["depth", "kernel", "x1", "x2"]
        failed = 0
        while experiment.progress.observation_count < experiment.observation_budget:
            suggestion = conn.experiments(experiment.id).suggestions().create()
            a = suggestion.assignments
            assert isinstance(a["depth"], int) and a["kernel"] in ("rbf", "linear")
            if a["depth"] == 8 or experiment.progress.observation_count % 7 == 3:
                conn.experiments(experiment.id).observations().create(
                    suggestion=suggestion.id, failed=True, metadata={"reason": "diverged"}
                )
                failed += 1
            else:
                conn.experiments(experiment.id).observations().create(
                    suggestion=suggestion.id,
                    value=-branin(a["x1"], a["x2"]),
                    metadata={"host": "test"},
                )
            experiment = conn.experiments(experiment.id).fetch()
        assert experiment.progress.observation_count == 24
        assert failed >= 3

        # Open suggestions: listed, then deleted.
        opened = [conn.experiments(experiment.id).suggestions().create() for _ in range(3)]
        listed = conn.experiments(experiment.id).suggestions().fetch(state="open")
        assert sorted(s.id for s in listed.iterate_pages()) == sorted(s.id for s in opened)
        conn.experiments(experiment.id).suggestions().delete(state="open")
        assert conn.experiments(experiment.id).suggestions().fetch(state="open", limit=0).count == 0

        # Observations paged with iterate_pages(), newest first, every one exactly once.
        pages = conn.experiments(experiment.id).observations().fetch(limit=5)
        ids = [o.id for o in pages.iterate_pages()]
        assert len(ids) == 24 and len(set(ids)) == 24
        assert [int(i) for i in ids] == sorted((int(i) for i in ids), reverse=True)
        failures = [o for o in pages.iterate_pages() if o.failed]
        assert len(failures) == failed and all(o.values == [] for o in failures)

        best = list(conn.experiments(experiment.id).best_assignments().fetch().iterate_pages())
        assert len(best) == 1
        finished = [o for o in pages.iterate_pages() if not o.failed]
        assert best[0].value == max(o.value for o in finished)
        assert experiment.progress.best_observation.value == best[0].value

    def test_update_and_delete_experiment(self, conn: Connection) -> None:
        experiment = conn.experiments().create(**EXPERIMENT)
        updated = conn.experiments(experiment.id).update(name="renamed", metadata={"k": "v"})
        assert updated.name == "renamed" and dict(updated.metadata) == {"k": "v"}
        conn.experiments(experiment.id).delete()
        assert conn.experiments(experiment.id).fetch().state == "deleted"
        with pytest.raises(ApiException) as info:
            conn.experiments(experiment.id).suggestions().create()
        assert info.value.status_code == 400
        assert f"deleted experiment {experiment.id}" in str(info.value)

    def test_batch_and_assignments_observations(self, conn: Connection) -> None:
        experiment = conn.experiments().create(**EXPERIMENT)
        created = (
            conn.experiments(experiment.id)
            .observations()
            .create_batch(
                observations=[
                    dict(assignments=dict(x1=1.0, x2=2.0, kernel="rbf", depth=2), value=-3.0),
                    dict(assignments=dict(x1=2.0, x2=3.0, kernel="linear", depth=3), failed=True),
                ]
            )
        )
        assert [o.failed for o in created.iterate_pages()] == [False, True]
        assert conn.experiments(experiment.id).fetch().progress.observation_count == 2


class TestErrorsSeenByTheClient:
    """The official client surfaces our 400 and 404 errors with their messages."""

    def test_404_names_the_unknown_experiment(self, conn: Connection) -> None:
        with pytest.raises(ApiException) as info:
            conn.experiments("987654").fetch()
        assert info.value.status_code == 404
        assert "987654" in info.value.message

    def test_400_names_the_offending_field(self, conn: Connection) -> None:
        with pytest.raises(ApiException) as info:
            conn.experiments().create(
                name="bad", parameters=[dict(name="x", type="double", bounds=dict(min=3, max=1))]
            )
        assert info.value.status_code == 400
        assert "parameters[0].bounds" in info.value.message
