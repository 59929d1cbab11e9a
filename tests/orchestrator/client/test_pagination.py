"""ServiceClient list calls follow SigOpt's `paging.before` markers across pages."""

from __future__ import annotations

from orchestrator.client import ServiceClient
from orchestrator.transport import MockTransport, TransportResponse
from sigopt_service.models import MetricEvaluation
from tests.orchestrator.client.fake_sigopt import (
    FakeSigOpt,
    client_for,
    ok,
)


class TestPagination:
    """List calls follow `paging.before` markers until null or an empty page."""

    async def test_follows_before_markers_across_pages(self) -> None:
        """Three pages are fetched with the same params plus the previous page's marker."""

        def page(ids: list[str], before: str | None) -> TransportResponse:
            data = [
                {"object": "suggestion", "id": i, "experiment": "7", "assignments": {}} for i in ids
            ]
            return ok(
                {
                    "object": "pagination",
                    "count": 5,
                    "data": data,
                    "paging": {"before": before, "after": None},
                }
            )

        pages = {
            None: page(["5", "4"], "m1"),
            "m1": page(["3", "2"], "m2"),
            "m2": page(["1"], None),
        }
        transport = MockTransport(
            lambda method, path, params, json: pages[(params or {}).get("before")]
        )
        async with client_for(transport) as client:
            suggestions = await client.open_suggestions("7")
        assert [s.id for s in suggestions] == ["5", "4", "3", "2", "1"]
        assert [r.params for r in transport.requests] == [
            {"state": "open"},
            {"state": "open", "before": "m1"},
            {"state": "open", "before": "m2"},
        ]

    async def test_stops_on_an_empty_page(self) -> None:
        """An empty page ends the walk even if it still carries a marker."""
        empty = ok({"object": "pagination", "count": 0, "data": [], "paging": {"before": "x"}})
        transport = MockTransport(lambda *args: empty)
        async with client_for(transport) as client:
            assert await client.observations("7") == []
        assert len(transport.requests) == 1

    async def test_observations_and_best_assignments_read_all_pages(
        self, fake_client: tuple[FakeSigOpt, MockTransport, ServiceClient, str]
    ) -> None:
        """observations() returns every observation across pages, newest first."""
        fake, _, client, eid = fake_client
        for _ in range(7):
            suggestion = await client.suggest(eid)
            await client.observe(eid, suggestion.id, values=[MetricEvaluation(value=1.0)])
        observations = await client.observations(eid)
        assert len(observations) == 7
        assert [int(o.id) for o in observations] == sorted(fake.observations, reverse=True)
        assert len(await client.best_assignments(eid)) == 1
