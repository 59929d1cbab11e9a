"""API tokens on the API: every scope allowed and refused, rotate and revoke taking effect
at the next request, the secret in the creating answer only, last use recorded."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from sigopt_service.config import ServiceConfig
from tests.sigopt_service.tokens_helpers import ADMIN, Api


@pytest.fixture
def service_config(tmp_path: Path) -> ServiceConfig:
    return ServiceConfig(port=0, db=tmp_path / "service.db", seed=1, tokens=(ADMIN,))


async def _suggest_and_observe(api: Api, eid: str, token: str) -> None:
    suggestion = await api.ok("POST", f"/v1/experiments/{eid}/suggestions", token)
    body = {"suggestion": suggestion["id"], "value": 1.0}
    await api.ok("POST", f"/v1/experiments/{eid}/observations", token, body)


#: The reads every token but an experiment's may make on an experiment `{e}`.
READS = [
    "/v1/experiments",
    "/v1/experiments/{e}",
    "/v1/experiments/{e}/suggestions",
    "/v1/experiments/{e}/observations",
    "/v1/experiments/{e}/best_assignments",
    "/v1/experiments/{e}/stopping_criteria",
    "/v1/clients/1/experiments",
]


class TestScopes:
    async def test_configured_and_stored_admins_manage_tokens(self, api: Api) -> None:
        """The `--token` of the service is an admin, not stored; an admin token it makes
        lists, creates, reads, renames and revokes tokens too."""
        me = await api.ok("GET", "/v1/tokens/self")
        assert me["permissions"] == "admin" and me["id"] is None and me["token"] is None
        assert me["client"] == "1" and me["all_experiments"] is True
        admin = await api.make_token(name="second admin", permissions="admin")
        secret = admin["token"]
        other = await api.make_token(secret, name="made by the second")
        listed = await api.ok("GET", "/v1/clients/1/tokens", secret)
        assert [t["id"] for t in listed["data"]] == [other["id"], admin["id"]]
        assert all(t["token"] is None for t in listed["data"])
        renamed = await api.ok("PUT", f"/v1/tokens/{other['id']}", secret, {"name": "renamed"})
        assert renamed["name"] == "renamed" and renamed["token"] is None
        await api.ok("DELETE", f"/v1/tokens/{other['id']}", secret)
        status, _ = await api("GET", "/v1/experiments", other["token"])
        assert status == 401

    async def test_write_token(self, api: Api) -> None:
        """Read-write: every experiment call, its own token (read, rotate) and share
        tokens; never another token nor the token list."""
        made = await api.make_token(name="rw")
        rw = made["token"]
        eid = await api.make_experiment(rw)
        await _suggest_and_observe(api, eid, rw)
        await api.ok("PUT", f"/v1/experiments/{eid}", rw, {"name": "renamed"})
        share = await api.ok("POST", f"/v1/experiments/{eid}/tokens", rw)
        assert share["permissions"] == "read" and share["experiment"] == eid
        assert (await api.ok("GET", "/v1/tokens/self", rw))["id"] == made["id"]
        for method, path, body in [
            ("GET", "/v1/clients/1/tokens", None),
            ("POST", "/v1/clients/1/tokens", {}),
            ("GET", f"/v1/tokens/{share['id']}", None),
            ("DELETE", "/v1/tokens/self", None),
            ("PUT", "/v1/tokens/self", {"name": "mine"}),
            ("PUT", "/v1/tokens/self", {"lasts_forever": True}),
        ]:
            status, answer = await api(method, path, rw, body)
            assert (status, answer["code"]) == (403, "forbidden"), (method, path)
        rotated = await api.ok("PUT", "/v1/tokens/self", rw, {"token": "rotate"})
        assert rotated["id"] == made["id"] and rotated["token"] not in (None, rw)
        assert (await api("GET", "/v1/experiments", rw))[0] == 401
        await api.ok("DELETE", f"/v1/experiments/{eid}", rotated["token"])

    async def test_read_only_token(self, api: Api) -> None:
        """Read-only: every GET, and nothing that writes (403 naming the method)."""
        eid = await api.make_experiment()
        await _suggest_and_observe(api, eid, ADMIN)
        ro = (await api.make_token(permissions="read"))["token"]
        for path in READS:
            await api.ok("GET", path.format(e=eid), ro)
        me = await api.ok("GET", "/v1/tokens/self", ro)
        assert me["permissions"] == "read" and me["scope"] == "all_endpoints"
        for method, path in [
            ("POST", "/v1/experiments"),
            ("PUT", f"/v1/experiments/{eid}"),
            ("DELETE", f"/v1/experiments/{eid}"),
            ("POST", f"/v1/experiments/{eid}/suggestions"),
            ("POST", f"/v1/experiments/{eid}/observations"),
            ("DELETE", f"/v1/experiments/{eid}/observations"),
            ("POST", f"/v1/experiments/{eid}/tokens"),
            ("PUT", "/v1/tokens/self"),
            ("POST", "/v1/clients/1/tokens"),
        ]:
            status, answer = await api(method, path, ro, {})
            assert (status, answer["code"]) == (403, "forbidden"), (method, path)
            assert "read-only" in answer["message"]
        assert (await api.ok("GET", f"/v1/experiments/{eid}"))["name"] == "tokens"

    async def test_experiment_token(self, api: Api) -> None:
        """SigOpt's share token: its experiment's resources, read-only, 30 days; another
        experiment is a 404, anything else a 403."""
        eid, other = await api.make_experiment(), await api.make_experiment()
        await _suggest_and_observe(api, eid, ADMIN)
        share = await api.ok("POST", f"/v1/experiments/{eid}/tokens", ADMIN, {"name": "s"})
        secret = share["token"]
        assert (share["token_type"], share["scope"]) == ("guest", "shared_experiment")
        assert share["all_experiments"] is False and share["experiment"] == eid
        assert abs(share["expires"] - (time.time() + 30 * 86400)) < 60
        for path in READS[1:-1]:
            await api.ok("GET", path.format(e=eid), secret)
        assert (await api.ok("GET", "/v1/tokens/self", secret))["id"] == share["id"]
        assert (await api.ok("GET", f"/v1/tokens/{share['id']}", secret))["name"] == "s"
        for path in READS[1:-1]:
            status, answer = await api("GET", path.format(e=other), secret)
            assert (status, answer["code"]) == (404, "not_found"), path
        for path in ("/v1/experiments", "/v1/clients/1/experiments", "/v1/clients/1/tokens"):
            status, answer = await api("GET", path, secret)
            assert (status, answer["code"]) == (403, "forbidden"), path
        status, answer = await api("POST", f"/v1/experiments/{eid}/suggestions", secret, {})
        assert (status, answer["code"]) == (403, "forbidden")
        made = await api.make_token(experiment=other, expires=int(time.time()) + 3600)
        assert made["experiment"] == other and made["permissions"] == "read"

    async def test_no_unknown_or_malformed_token(self, api: Api) -> None:
        """No token, an unknown one, or an empty one: 401 on every endpoint."""
        for token in (None, "not-a-token", ""):
            for path in ("/v1/experiments", "/v1/tokens/self", "/v1/clients/1/tokens"):
                status, answer = await api("GET", path, token)
                assert (status, answer["code"]) == (401, "unauthorized"), (token, path)


class TestLifecycle:
    async def test_secret_is_answered_once(self, api: Api) -> None:
        """Only creating (and rotating) answers the secret; every read has null."""
        made = await api.make_token(name="once")
        got = await api.ok("GET", f"/v1/tokens/{made['id']}")
        assert got["token"] is None and {**got, "token": made["token"]} == {
            **made,
            "last_used": got["last_used"],
        }
        listed = await api.ok("GET", "/v1/clients/1/tokens")
        assert made["token"] not in str(listed)

    async def test_revoke_and_rotate_take_effect_at_the_next_request(self, api: Api) -> None:
        """1. A token works. 2. Revoked: its very next request is a 401, and it is gone
        (404). 3. Another token is rotated: the old secret is a 401 at once, the new one
        works."""
        revoked, rotated = await api.make_token(), await api.make_token()
        await api.ok("GET", "/v1/experiments", revoked["token"])
        await api.ok("DELETE", f"/v1/tokens/{revoked['id']}")
        status, answer = await api("GET", "/v1/experiments", revoked["token"])
        assert (status, answer["message"]) == (401, "Invalid API token.")
        assert (await api("GET", f"/v1/tokens/{revoked['id']}"))[0] == 404
        assert (await api("DELETE", f"/v1/tokens/{revoked['id']}"))[0] == 404
        new = await api.ok("PUT", f"/v1/tokens/{rotated['id']}", ADMIN, {"token": "rotate"})
        assert (await api("GET", "/v1/experiments", rotated["token"]))[0] == 401
        await api.ok("GET", "/v1/experiments", new["token"])

    async def test_expiry_can_be_set_and_cleared(self, api: Api) -> None:
        """`expires` sets when a token ends, `lasts_forever` or null clears it."""
        later = int(time.time()) + 3600
        made = await api.make_token(expires=later)
        assert made["expires"] == later
        path = f"/v1/tokens/{made['id']}"
        assert (await api.ok("PUT", path, ADMIN, {"lasts_forever": True}))["expires"] is None
        assert (await api.ok("PUT", path, ADMIN, {"expires": later}))["expires"] == later
        assert (await api.ok("PUT", path, ADMIN, {"expires": None}))["expires"] is None

    async def test_last_use_is_recorded(self, api: Api, service_config: ServiceConfig) -> None:
        """A token's first request writes its last use to the database; the API shows it."""
        made = await api.make_token()
        assert made["last_used"] is None
        before = int(time.time())
        await api.ok("GET", "/v1/experiments", made["token"])
        shown = (await api.ok("GET", f"/v1/tokens/{made['id']}"))["last_used"]
        assert before <= shown <= int(time.time())
        assert service_config.db is not None
        with sqlite3.connect(service_config.db) as raw:
            row = raw.execute("SELECT last_used FROM tokens WHERE id = ?", (int(made["id"]),))
            assert row.fetchone() == (shown,)


class TestRefusedBodies:
    @pytest.mark.parametrize(
        ("body", "status", "field", "code"),
        [
            ({"owner": "me"}, 400, "owner", "unknown_key"),
            ({"permissions": "owner"}, 400, "permissions", "invalid_value"),
            ({"experiment": "1", "permissions": "write"}, 400, "permissions", "invalid_value"),
            ({"experiment": "x"}, 400, "experiment", "invalid_value"),
            ({"experiment": "999"}, 404, None, "not_found"),
            ({"expires": 5}, 400, "expires", "invalid_value"),
            ({"expires": "30d"}, 400, "expires", "invalid_value"),
            ({"lasts_forever": False}, 400, "lasts_forever", "invalid_value"),
            ({"lasts_forever": True, "expires": 4_000_000_000}, 400, "lasts_forever", None),
            ({"name": "  "}, 400, "name", "invalid_value"),
            ({"name": "n" * 101}, 400, "name", "invalid_value"),
        ],
    )
    async def test_create_refusals_name_the_field(
        self, api: Api, body: dict[str, object], status: int, field: str | None, code: str | None
    ) -> None:
        """Every refused create names its field; nothing is stored."""
        await api.make_experiment()
        got, answer = await api("POST", "/v1/clients/1/tokens", ADMIN, body)
        assert (got, answer["field"]) == (status, field), answer
        assert code is None or answer["code"] == code
        assert (await api.ok("GET", "/v1/clients/1/tokens"))["count"] == 0

    async def test_update_refusals(self, api: Api) -> None:
        """SigOpt's `expires: "renew"` (no token here renews), another `token` than
        "rotate", an unknown key: 400s naming the field; another client is a 404."""
        path = f"/v1/tokens/{(await api.make_token())['id']}"
        for body, field in [
            ({"expires": "renew"}, "expires"),
            ({"token": "new"}, "token"),
            ({"scope": "x"}, "scope"),
        ]:
            status, answer = await api("PUT", path, ADMIN, body)
            assert (status, answer["field"]) == (400, field)
        for method in ("GET", "POST"):
            assert (await api(method, "/v1/clients/2/tokens", ADMIN, {}))[0] == 404
        assert (await api("GET", "/v1/tokens/abc"))[0] == 404
        status, answer = await api("PUT", "/v1/tokens/self", ADMIN, {"token": "rotate"})
        assert (status, answer["code"]) == (403, "forbidden")  # `--token` is not stored
        assert "where the service is started" in answer["message"]


class TestOpenService:
    @pytest.fixture
    def service_config(self, tmp_path: Path) -> ServiceConfig:
        return ServiceConfig(port=0, db=tmp_path / "service.db", seed=1)

    async def test_loopback_service_without_tokens_stays_open(self, api: Api) -> None:
        """No token given at start: every caller is an admin, whatever it sends; stored
        tokens change nothing until the service is started with one."""
        me = await api.ok("GET", "/v1/tokens/self", None)
        assert me["permissions"] == "admin" and me["id"] is None
        ro = await api.make_token(None, permissions="read")
        await api.make_experiment(ro["token"])
        await api.make_experiment("anything")
        status, answer = await api("PUT", "/v1/tokens/self", None, {"token": "rotate"})
        assert (status, answer["code"]) == (403, "forbidden")


async def test_openapi_document_describes_the_token_routes(api: Api) -> None:
    """The document names every token route, `{token_id}` as an id or `self`, and the
    403 of a scope (the fuzzer holds the service to it)."""
    doc = await api.ok("GET", "/v1/openapi.json", None)
    token = doc["paths"]["/v1/tokens/{token_id}"]
    assert set(token) == {"get", "put", "delete"}
    [param] = token["get"]["parameters"]
    assert param["schema"]["pattern"] == "^([0-9]{1,19}|self)$"
    assert "403" in token["put"]["responses"]
    assert "403" in doc["paths"]["/v1/experiments"]["post"]["responses"]
    listed = doc["paths"]["/v1/clients/{client_id}/tokens"]
    assert set(listed) == {"get", "post"} and "requestBody" in listed["post"]
    assert "post" in doc["paths"]["/v1/experiments/{experiment_id}/tokens"]
