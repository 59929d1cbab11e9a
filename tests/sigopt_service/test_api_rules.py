"""The spec's rules on suggestions and observations answer 400 with a message naming the culprit."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.sigopt_service.api_cases import call


class TestSuggestionAndObservationRules:
    """The spec's section-4 rules on suggestions and observations answer 400 with a message."""

    async def test_observation_rules(self, http: aiohttp.ClientSession, exp: str) -> None:
        eid = exp.rsplit("/", 1)[1]
        _, s = await call(http, "POST", f"{exp}/suggestions")
        cases: list[tuple[dict[str, Any], str]] = [
            ({"value": 1.0}, "exactly one of `suggestion`, `assignments`"),
            (
                {"suggestion": s["id"], "assignments": s["assignments"], "value": 1},
                "exactly one of",
            ),
            (
                {"suggestion": s["id"], "failed": True, "value": 1.0},
                "Cannot provide `values` if observation has failed",
            ),
            ({"suggestion": s["id"]}, "`value`"),
            ({"suggestion": s["id"], "values": []}, "values"),
            (
                {"suggestion": "999999", "value": 1.0},
                f"No suggestion: 999999 for experiment: {eid}",
            ),
            ({"suggestion": s["id"], "value": 1.0, "extra": 2}, "`extra`"),
            ({"suggestion": s["id"], "values": [{"name": "other", "value": 1.0}]}, "other"),
            (
                {"suggestion": s["id"], "values": [{"value": 1.0, "value_stddev": -1}]},
                "value_stddev",
            ),
            (
                {"assignments": {"x": 0.5, "n": 2}, "value": 1.0},
                'Missing assignment for parameter: "c"',
            ),
            ({"assignments": {"x": 0.5, "n": 2, "c": "z"}, "value": 1.0}, "assignments.c"),
            ({"assignments": {"x": 0.5, "n": 2.5, "c": "a"}, "value": 1.0}, "assignments.n"),
            ({"assignments": {"x": 0.5, "n": 2, "c": "a", "q": 1}, "value": 1.0}, "'q'"),
        ]
        for body, fragment in cases:
            status, err = await call(http, "POST", f"{exp}/observations", body)
            assert status == 400, (body, err)
            assert fragment in err["message"], (body, err["message"])

    async def test_huge_numbers_are_not_finite(self, http: aiohttp.ClientSession, exp: str) -> None:
        _, s = await call(http, "POST", f"{exp}/suggestions")
        raw = ('{{"suggestion": "{}", "value": 1e400}}'.format(s["id"])).encode()
        status, err = await call(http, "POST", f"{exp}/observations", raw=raw)
        assert status == 400 and "values[0].value" in err["message"], err
        raw = ('{{"suggestion": "{}", "value": {}}}'.format(s["id"], "9" * 5000)).encode()
        status, err = await call(http, "POST", f"{exp}/observations", raw=raw)
        assert status == 400, err

    async def test_deleted_suggestion_cannot_be_observed(
        self, http: aiohttp.ClientSession, exp: str
    ) -> None:
        eid = exp.rsplit("/", 1)[1]
        _, s = await call(http, "POST", f"{exp}/suggestions")
        await call(http, "DELETE", f"{exp}/suggestions/{s['id']}")
        status, err = await call(
            http, "POST", f"{exp}/observations", {"suggestion": s["id"], "value": 1.0}
        )
        assert status == 400 and err["message"] == f"No suggestion: {s['id']} for experiment: {eid}"

    async def test_batch_validates_everything_first(
        self, http: aiohttp.ClientSession, exp: str
    ) -> None:
        good = {"assignments": {"x": 0.5, "n": 2, "c": "a"}, "value": 1.0}
        status, err = await call(
            http,
            "POST",
            f"{exp}/observations/batch",
            {"observations": [good, {"assignments": {"x": 1}, "value": 1}]},
        )
        assert status == 400 and err["message"].startswith("Error in observation 2/2:")
        _, page = await call(http, "GET", f"{exp}/observations")
        assert page["count"] == 0

    async def test_list_query_rules(self, http: aiohttp.ClientSession, exp: str) -> None:
        for query, fragment in [
            ("suggestions?state=closed", "Unrecognized state closed"),
            ("observations?limit=1001", "Exceeded maximum limit: 1000"),
            ("observations?limit=-1", "`limit`"),
            ("observations?before=", "`before`"),
            ("observations?before=garbage!", "`before`"),
            ("observations?ascending=maybe", "`ascending`"),
            ("suggestions?id=", "empty id"),
            ("suggestions?id=1,,2", "empty id"),
        ]:
            status, err = await call(http, "GET", f"{exp}/{query}")
            assert status == 400 and fragment in err["message"], (query, err)

    async def test_suggestion_with_bad_assignments(
        self, http: aiohttp.ClientSession, exp: str
    ) -> None:
        status, err = await call(
            http, "POST", f"{exp}/suggestions", {"assignments": {"x": "high", "n": 1, "c": "a"}}
        )
        assert status == 400 and "assignments.x" in err["message"]
        _, s = await call(http, "POST", f"{exp}/suggestions")
        status, err = await call(
            http, "PUT", f"{exp}/suggestions/{s['id']}", {"metadata": {"k": {}}}
        )
        assert status == 400 and "metadata" in err["message"], err

    async def test_observation_update_rules(self, http: aiohttp.ClientSession, exp: str) -> None:
        _, s = await call(http, "POST", f"{exp}/suggestions")
        _, o = await call(
            http, "POST", f"{exp}/observations", {"suggestion": s["id"], "value": 2.0}
        )
        status, err = await call(http, "PUT", f"{exp}/observations/{o['id']}", {"failed": True})
        assert status == 400 and "cannot have failed == true" in err["message"]
        status, body = await call(
            http, "PUT", f"{exp}/observations/{o['id']}", {"failed": True, "values": None}
        )
        assert status == 200 and body["failed"] is True and body["values"] == []
