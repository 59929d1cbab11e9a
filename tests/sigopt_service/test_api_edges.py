"""Edge cases found in review: duplicates, `after` paging, huge ids, deleted suggestions, grid."""

from __future__ import annotations

import aiohttp
from sigopt import Connection

from tests.sigopt_service.api_cases import PARAMS, call


class TestOneObservationPerSuggestion:
    """A second observation of a closed suggestion is a 409, also within one batch."""

    async def test_second_observation_conflicts(
        self, http: aiohttp.ClientSession, exp: str
    ) -> None:
        _, s = await call(http, "POST", f"{exp}/suggestions")
        status, _ = await call(
            http, "POST", f"{exp}/observations", {"suggestion": s["id"], "value": 1.0}
        )
        assert status == 200
        status, err = await call(
            http, "POST", f"{exp}/observations", {"suggestion": s["id"], "value": 2.0}
        )
        assert status == 409 and s["id"] in err["message"]
        _, s2 = await call(http, "POST", f"{exp}/suggestions")
        status, err = await call(
            http,
            "POST",
            f"{exp}/observations/batch",
            {
                "observations": [
                    {"suggestion": s2["id"], "value": 1.0},
                    {"suggestion": s2["id"], "value": 2.0},
                ]
            },
        )
        assert status == 409 and "twice" in err["message"]
        _, page = await call(http, "GET", f"{exp}/observations")
        assert page["count"] == 1


class TestAfterPaging:
    """`after` pages forward in ascending order, as the official client iterates them."""

    def test_iterate_pages_with_after(self, threaded_service_url: str) -> None:
        conn = Connection(client_token="t", api_url=threaded_service_url)
        e = conn.experiments().create(name="p", parameters=PARAMS)
        ids = []
        for _ in range(7):
            s = conn.experiments(e.id).suggestions().create()
            ids.append(conn.experiments(e.id).observations().create(suggestion=s.id, value=1.0).id)
        first_page = conn.experiments(e.id).observations().fetch(ascending=True, limit=1)
        marker = first_page.paging.after  # names the oldest observation
        got = [
            o.id
            for o in conn.experiments(e.id)
            .observations()
            .fetch(after=marker, limit=2)
            .iterate_pages()
        ]
        assert got == ids[1:]

    async def test_after_refused_where_unsupported(
        self, http: aiohttp.ClientSession, exp: str
    ) -> None:
        status, err = await call(http, "GET", f"{exp}/suggestions?after=aWQ6MQ")
        assert status == 400 and "`after`" in err["message"]


class TestHugeNumbers:
    """Ids and numbers beyond what the store holds are a 404 or a 400, never a 500."""

    async def test_huge(self, http: aiohttp.ClientSession, service_url: str, exp: str) -> None:
        big = "9" * 25
        status, _ = await call(http, "GET", f"{service_url}/v1/experiments/{big}")
        assert status == 404
        status, err = await call(
            http,
            "POST",
            f"{exp}/observations",
            raw=(f'{{"suggestion": {big}, "value": 1}}').encode(),
        )
        assert status == 400 and "suggestion" in err["message"]
        import base64

        marker = base64.urlsafe_b64encode(f"id:{10**30}".encode()).decode().rstrip("=")
        status, _ = await call(http, "GET", f"{exp}/observations?before={marker}")
        assert status == 400
        status, err = await call(
            http,
            "POST",
            f"{service_url}/v1/experiments",
            {"name": "b", "parameters": PARAMS, "observation_budget": int(big)},
        )
        assert status == 400 and "observation_budget" in err["message"]
        status, err = await call(
            http,
            "POST",
            f"{service_url}/v1/experiments",
            {
                "name": "b",
                "parameters": [{"name": "n", "type": "int", "bounds": {"min": 0, "max": 10**30}}],
            },
        )
        assert status == 400 and "bounds" in err["message"]


class TestDeletedSuggestion:
    """A deleted suggestion is a 404 for GET and PUT."""

    async def test_gone(self, http: aiohttp.ClientSession, exp: str) -> None:
        _, s = await call(http, "POST", f"{exp}/suggestions")
        await call(http, "DELETE", f"{exp}/suggestions/{s['id']}")
        status, err = await call(http, "GET", f"{exp}/suggestions/{s['id']}")
        assert status == 404 and s["id"] in err["message"]
        status, _ = await call(http, "PUT", f"{exp}/suggestions/{s['id']}", {"metadata": {}})
        assert status == 404
        _, page = await call(http, "GET", f"{exp}/suggestions?deleted=true")
        assert [x["id"] for x in page["data"]] == [s["id"]]


class TestGridCoverage:
    """A grid experiment covers every point even after a suggestion was deleted."""

    async def test_deleted_point_comes_back(
        self, http: aiohttp.ClientSession, service_url: str
    ) -> None:
        _, e = await call(
            http,
            "POST",
            f"{service_url}/v1/experiments",
            {
                "name": "g",
                "type": "grid",
                "observation_budget": 3,
                "parameters": [{"name": "x", "type": "int", "grid": [1, 2, 3]}],
            },
        )
        base = f"{service_url}/v1/experiments/{e['id']}"
        _, s1 = await call(http, "POST", f"{base}/suggestions")
        await call(http, "POST", f"{base}/observations", {"suggestion": s1["id"], "value": 1})
        _, s2 = await call(http, "POST", f"{base}/suggestions")
        await call(http, "DELETE", f"{base}/suggestions/{s2['id']}")
        seen = {s1["assignments"]["x"]}
        for _ in range(2):
            _, s = await call(http, "POST", f"{base}/suggestions")
            seen.add(s["assignments"]["x"])
            await call(http, "POST", f"{base}/observations", {"suggestion": s["id"], "value": 1})
        assert seen == {1, 2, 3}


class TestWithinBudget:
    """`within_budget=true` refuses a suggestion once observations plus open suggestions
    fill the budget, and allows one again when a deletion frees room."""

    async def test_guard(self, http: aiohttp.ClientSession, service_url: str) -> None:
        _, e = await call(
            http,
            "POST",
            f"{service_url}/v1/experiments",
            {"name": "b", "parameters": PARAMS, "observation_budget": 3},
        )
        base = f"{service_url}/v1/experiments/{e['id']}"
        guarded = f"{base}/suggestions?within_budget=true"
        _, s1 = await call(http, "POST", guarded)
        await call(http, "POST", f"{base}/observations", {"suggestion": s1["id"], "value": 1})
        for _ in range(2):
            assert (await call(http, "POST", guarded))[0] == 200
        status, err = await call(http, "POST", guarded)
        assert status == 409 and "1 observations + 2 open suggestions >= 3" in err["message"]
        status, _ = await call(http, "POST", f"{base}/suggestions")  # unguarded: SigOpt's way
        assert status == 200
        await call(http, "DELETE", f"{base}/suggestions?state=open")
        status, _ = await call(http, "POST", guarded)
        assert status == 200
        _, page = await call(http, "GET", f"{base}/suggestions?state=open&limit=0")
        assert page["count"] == 1


class TestDryRun:
    """`dry_run` must be a boolean: "true" or 1 never stores a batch by accident."""

    async def test_non_boolean_refused(self, http: aiohttp.ClientSession, exp: str) -> None:
        good = {"assignments": {"x": 0.5, "n": 2, "c": "a"}, "value": 1.0}
        for flag in ("true", 1):
            status, err = await call(
                http, "POST", f"{exp}/observations/batch", {"observations": [good], "dry_run": flag}
            )
            assert status == 400 and "dry_run" in err["message"]
        status, _ = await call(
            http, "POST", f"{exp}/observations/batch", {"observations": [good], "dry_run": True}
        )
        assert status == 200
        _, page = await call(http, "GET", f"{exp}/observations")
        assert page["count"] == 0


class TestProgressBest:
    """`progress.best_observation` follows new, updated and deleted observations."""

    async def test_best_tracks_changes(self, http: aiohttp.ClientSession, exp: str) -> None:
        async def observe(value: float) -> str:
            _, s = await call(http, "POST", f"{exp}/suggestions")
            _, o = await call(
                http, "POST", f"{exp}/observations", {"suggestion": s["id"], "value": value}
            )
            return str(o["id"])

        async def best_value() -> float | None:
            _, e = await call(http, "GET", exp)
            best = e["progress"]["best_observation"]
            return None if best is None else float(best["value"])

        low = await observe(1.0)
        assert await best_value() == 1.0  # computed from the history, then cached
        high = await observe(3.0)
        await observe(2.0)
        assert await best_value() == 3.0  # kept up to date without a reread
        await call(http, "PUT", f"{exp}/observations/{low}", {"value": 5.0})
        assert await best_value() == 5.0
        await call(http, "DELETE", f"{exp}/observations/{low}")
        assert await best_value() == 3.0
        await call(http, "DELETE", f"{exp}/observations/{high}")
        assert await best_value() == 2.0
