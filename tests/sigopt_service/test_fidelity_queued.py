"""Issue 15 item 6: queued suggestions as sigopt-server has them (its
`test/integration/v1/endpoints/queued_suggestions/queued_suggestion_test.py`, replayed
through the official client), on both stores: queue, fetch, list and delete; the next
suggestions serve the oldest first, consume it, and the optimizer counts it as pending."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from sigopt import Connection
from sigopt.exception import ApiException
from structlog.testing import capture_logs

from tests.sigopt_service.api_cases import call

PARAMETERS: list[dict[str, Any]] = [
    dict(name="x", type="int", bounds=dict(min=0, max=10)),
    dict(name="y", type="int", bounds=dict(min=0, max=10)),
    dict(name="c", type="categorical", categorical_values=["a", "b", "c"]),
]
#: sigopt-server's `offline_categorical_experiment_meta`, in short.
EXPERIMENT = dict(name="queued", parameters=PARAMETERS, observation_budget=10)
A, B = dict(x=1, y=2, c="b"), dict(x=0, y=0, c="a")


pytestmark = pytest.mark.both_stores


@pytest.fixture
def qid_eid(conn: Connection) -> str:
    return str(conn.experiments().create(**EXPERIMENT).id)


def _refused(call_it: object) -> dict[str, object]:
    with pytest.raises(ApiException) as raised:
        call_it()  # type: ignore[operator]
    assert raised.value.status_code == 400, raised.value
    body: dict[str, object] = raised.value.to_json()
    return body


class TestQueuedSuggestionResource:
    """Create, fetch, list, delete, with sigopt-server's object and errors."""

    def test_create_fetch_list(self, conn: Connection, qid_eid: str) -> None:
        queued = conn.experiments(qid_eid).queued_suggestions().create(assignments=A)
        assert queued.id is not None and queued.experiment == qid_eid
        assert queued.assignments.to_json() == A and queued.created > 0
        assert conn.experiments(qid_eid).queued_suggestions(queued.id).fetch() == queued
        conn.experiments(qid_eid).queued_suggestions().create(assignments=B)
        listed = conn.experiments(qid_eid).queued_suggestions().fetch(limit=1)
        assert listed.count == 2
        assert [q.assignments.to_json() for q in listed.iterate_pages()] == [B, A]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "assignments"),
            ({"assignments": {"x": 1, "c": "a"}}, "assignments.y"),
            ({"assignments": {**A, "d": 3}}, "assignments.d"),
            ({"assignments": {**A, "x": "a"}}, "assignments.x"),
            ({"assignments": {**A, "c": "z"}}, "assignments.c"),
            ({"assignments": A, "task": "cheap"}, "task"),
            ({"assignments": A, "metadata": {"k": 1}}, "metadata"),
        ],
    )
    def test_invalid_create_names_the_field(
        self, conn: Connection, qid_eid: str, body: dict[str, object], field: str
    ) -> None:
        refused = _refused(lambda: conn.experiments(qid_eid).queued_suggestions().create(**body))
        assert refused["field"] == field
        assert conn.experiments(qid_eid).queued_suggestions().fetch().count == 0

    def test_deleted_experiment_takes_none(self, conn: Connection, qid_eid: str) -> None:
        conn.experiments(qid_eid).delete()
        refused = _refused(
            lambda: conn.experiments(qid_eid).queued_suggestions().create(assignments=A)
        )
        assert refused["message"] == (
            f"Cannot create QueuedSuggestions for deleted experiment {qid_eid}"
        )

    def test_unknown_gone_and_foreign_ids_are_404(self, conn: Connection, qid_eid: str) -> None:
        other = str(conn.experiments().create(**EXPERIMENT).id)
        foreign = conn.experiments(other).queued_suggestions().create(assignments=A)
        mine = conn.experiments(qid_eid).queued_suggestions().create(assignments=A)
        conn.experiments(qid_eid).queued_suggestions(mine.id).delete()
        for qid in (foreign.id, mine.id, "999"):
            for act in ("fetch", "delete"):
                with pytest.raises(ApiException) as raised:
                    getattr(conn.experiments(qid_eid).queued_suggestions(qid), act)()
                assert raised.value.status_code == 404
                assert f"No QueuedSuggestion {qid} for experiment {qid_eid}" in str(raised.value)
        assert conn.experiments(other).queued_suggestions(foreign.id).fetch() == foreign


class TestServedFirst:
    """`suggestions().create()` serves the oldest queued assignments first and consumes
    them; then the optimizer's own."""

    def test_oldest_first_then_the_optimizer(self, conn: Connection, qid_eid: str) -> None:
        queued = conn.experiments(qid_eid).queued_suggestions()
        queued.create(assignments=A)
        queued.create(assignments=B)
        first = conn.experiments(qid_eid).suggestions().create(metadata={"run": "r"})
        assert first.assignments.to_json() == A and first.metadata.to_json() == {"run": "r"}
        assert first.state == "open"
        assert conn.experiments(qid_eid).suggestions().create().assignments.to_json() == B
        assert queued.fetch().count == 0
        assert conn.experiments(qid_eid).suggestions().create().assignments.to_json() not in (A, B)
        assert conn.experiments(qid_eid).suggestions().fetch(state="open").count == 3

    def test_served_on_the_hot_path_too(self, conn: Connection) -> None:
        """A random experiment's suggestions run on the event loop once warm; one queued
        after that is served all the same (the queue's count keeps the path honest)."""
        eid = conn.experiments().create(**{**EXPERIMENT, "type": "random"}).id
        for _ in range(3):  # warm: the experiment, its counts, an empty queue
            conn.experiments(eid).suggestions().create()
        conn.experiments(eid).queued_suggestions().create(assignments=A)
        assert conn.experiments(eid).suggestions().create().assignments.to_json() == A
        assert conn.experiments(eid).suggestions().create().assignments.to_json() != A

    def test_delete_removes_from_queue(self, conn: Connection, qid_eid: str) -> None:
        q = conn.experiments(qid_eid).queued_suggestions().create(assignments=A)
        conn.experiments(qid_eid).queued_suggestions().create(assignments=B)
        conn.experiments(qid_eid).queued_suggestions(q.id).delete()
        assert conn.experiments(qid_eid).suggestions().create().assignments.to_json() == B

    def test_user_assignments_leave_the_queue_alone(self, conn: Connection, qid_eid: str) -> None:
        conn.experiments(qid_eid).queued_suggestions().create(assignments=A)
        own = conn.experiments(qid_eid).suggestions().create(assignments=B)
        assert own.assignments.to_json() == B
        assert conn.experiments(qid_eid).queued_suggestions().fetch().count == 1

    def test_queued_can_repeat_an_observed_suggestion(self, conn: Connection, qid_eid: str) -> None:
        s1 = conn.experiments(qid_eid).suggestions().create()
        conn.experiments(qid_eid).observations().create(suggestion=s1.id, values=[{"value": 1}])
        conn.experiments(qid_eid).queued_suggestions().create(assignments=s1.assignments.to_json())
        s2 = conn.experiments(qid_eid).suggestions().create()
        assert s2.assignments.to_json() == s1.assignments.to_json()

    def test_an_entry_the_parameters_no_longer_take_is_dropped(
        self, conn: Connection, qid_eid: str
    ) -> None:
        """Parameters updated after queueing: the entry is deleted, logged, and the next
        one (or the optimizer) serves."""
        conn.experiments(qid_eid).queued_suggestions().create(assignments=A)
        parameters = [p for p in PARAMETERS if p["name"] != "c"]
        conn.experiments(qid_eid).update(parameters=parameters)
        conn.experiments(qid_eid).queued_suggestions().create(assignments=dict(x=3, y=4))
        with capture_logs() as logs:
            served = conn.experiments(qid_eid).suggestions().create()
        assert served.assignments.to_json() == dict(x=3, y=4)
        dropped = [e for e in logs if e["event"] == "queued_suggestion_dropped"]
        assert [e["field"] for e in dropped] == ["assignments.c"]
        assert conn.experiments(qid_eid).queued_suggestions().fetch().count == 0


class TestServedWithTheServicesExtensions:
    """Our extensions serve the queue too: `next_suggestion` after an observation, and
    `within_budget`, which still refuses once the budget is filled (and consumes nothing)."""

    async def test_next_suggestion_and_budget(
        self, http: aiohttp.ClientSession, service_url: str
    ) -> None:
        body = {**EXPERIMENT, "observation_budget": 2}
        _, experiment = await call(http, "POST", f"{service_url}/v1/experiments", body)
        exp = f"{service_url}/v1/experiments/{experiment['id']}"
        for assignments in (A, B, dict(x=5, y=5, c="c")):
            status, _ = await call(
                http, "POST", f"{exp}/queued_suggestions", {"assignments": assignments}
            )
            assert status == 200
        _, first = await call(http, "POST", f"{exp}/suggestions?within_budget=true")
        assert first["assignments"] == A
        status, observed = await call(
            http,
            "POST",
            f"{exp}/observations?within_budget=true",
            {"suggestion": first["id"], "value": 1.0, "next_suggestion": {}},
        )
        assert status == 200 and observed["next_suggestion"]["assignments"] == B
        status, refused = await call(http, "POST", f"{exp}/suggestions?within_budget=true")
        assert (status, refused["code"]) == (409, "budget_reached")
        _, waiting = await call(http, "GET", f"{exp}/queued_suggestions")
        assert [q["assignments"] for q in waiting["data"]] == [dict(x=5, y=5, c="c")]


class TestTheOptimizerCountsItPending:
    """A served entry is an open suggestion like any other: a grid experiment's next
    points skip it, as they skip every point still open."""

    def test_grid_skips_the_served_point(self, conn: Connection) -> None:
        grid = conn.experiments().create(
            name="grid",
            type="grid",
            parameters=[dict(name="g", type="double", grid=[0.1, 0.2, 0.3, 0.4])],
        )
        conn.experiments(grid.id).suggestions().create()  # the engine's first point
        conn.experiments(grid.id).queued_suggestions().create(assignments=dict(g=0.3))
        served = [conn.experiments(grid.id).suggestions().create() for _ in range(3)]
        points = [s.assignments["g"] for s in served]
        assert points[0] == 0.3
        open_points = [
            s.assignments["g"]
            for s in conn.experiments(grid.id).suggestions().fetch(state="open").iterate_pages()
        ]
        assert sorted(open_points) == [0.1, 0.2, 0.3, 0.4]
