"""The pages with stored tokens: each token's scope holds on the pages as on the API, and
the tokens page (`/tokens`, admin only) lists, creates (the secret shown once) and revokes,
its forms refused when another site sends them."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from sigopt_service.config import ServiceConfig
from sigopt_service.http.pages.sessions import COOKIE_NAME
from tests.sigopt_service.pages.fill import fill

ADMIN = "page-admin-token-0123456789"
AUTH = (ADMIN, "")
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def get(
    url: str, token: str | None = None, cookies: dict[str, str] | None = None
) -> requests.Response:
    auth = None if token is None else (token, "")
    return requests.get(
        url, auth=auth, cookies=cookies, allow_redirects=False, timeout=30, headers=BROWSER
    )


def post(url: str, token: str | None, data: dict[str, str], **headers: str) -> requests.Response:
    auth = None if token is None else (token, "")
    return requests.post(
        url, auth=auth, data=data, headers=headers, allow_redirects=False, timeout=30
    )


def make_token(url: str, **body: str) -> dict[str, str]:
    answer = requests.post(f"{url}/v1/clients/1/tokens", auth=AUTH, json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.fixture
def service_config(tmp_path: Path) -> ServiceConfig:
    return ServiceConfig(port=0, db=tmp_path / "service.db", tokens=(ADMIN,))


class TestScopesOnPages:
    def test_read_only_token_sees_every_page_and_changes_nothing(
        self, threaded_service_url: str
    ) -> None:
        """A read-only token opens every experiment page; the tokens page and its forms
        are an admin's (403); signing in with the form works."""
        url = threaded_service_url
        filled = fill(url, 6, auth=AUTH)
        reader = make_token(url, permissions="read")["token"]
        for path in ("/", "/experiments", f"/experiment/{filled.id}/analysis"):
            page = get(f"{url}{path}", reader)
            assert page.status_code == 200, path
            assert 'href="/tokens"' not in page.text
        assert 'href="/tokens"' in get(f"{url}/experiments", ADMIN).text
        assert get(f"{url}/tokens", reader).status_code == 403
        refused = post(f"{url}/tokens", reader, {"name": "x"}, Origin=url)
        assert refused.status_code == 403 and "read-only" in refused.text
        signed = post(f"{url}/login", None, {"token": reader, "next": "/experiments"}, Origin=url)
        assert signed.status_code == 303 and COOKIE_NAME in signed.cookies

    def test_experiment_token_sees_its_experiment_only(self, threaded_service_url: str) -> None:
        """A share token's pages: its experiment's; the list sends it there; another
        experiment is a 404; the tokens page a 403."""
        url = threaded_service_url
        mine, other = fill(url, 4, auth=AUTH), fill(url, 4, auth=AUTH)
        share = make_token(url, experiment=mine.id)["token"]
        for path in ("/", "/experiments"):
            sent = get(f"{url}{path}", share)
            assert (sent.status_code, sent.headers["Location"]) == (303, f"/experiment/{mine.id}")
        for suffix in ("", "/analysis", "/history.json", "/historydownload"):
            assert get(f"{url}/experiment/{mine.id}{suffix}", share).status_code == 200, suffix
            assert get(f"{url}/experiment/{other.id}{suffix}", share).status_code == 404, suffix
        assert get(f"{url}/tokens", share).status_code == 403
        assert get(f"{url}/static/pages.css", share).status_code == 200

    def test_revoked_token_ends_its_session(self, threaded_service_url: str) -> None:
        """1. A stored token signs in with the form. 2. It is revoked. 3. The session's
        next page is refused: sent to the login form."""
        url = threaded_service_url
        made = make_token(url)
        signed = post(f"{url}/login", None, {"token": made["token"], "next": "/"}, Origin=url)
        cookies = {COOKIE_NAME: str(signed.cookies[COOKIE_NAME])}
        assert get(f"{url}/experiments", cookies=cookies).status_code == 200
        requests.delete(f"{url}/v1/tokens/{made['id']}", auth=AUTH, timeout=30)
        refused = get(f"{url}/experiments", cookies=cookies)
        assert (refused.status_code, refused.headers["Location"]) == (
            303,
            "/login?next=/experiments",
        )


class TestTokensPage:
    def test_create_shows_the_secret_once_and_revoke_refuses_it(
        self, threaded_service_url: str
    ) -> None:
        """1. The form creates a read-only token: the answer shows its secret. 2. The list
        shows the token, never the secret. 3. The secret reads the API and cannot write.
        4. The revoke button revokes it: 303 back, and the next request is a 401."""
        url = threaded_service_url
        created = post(
            f"{url}/tokens",
            ADMIN,
            {"name": "ci <b>", "permissions": "read", "expires": "12h"},
            Origin=url,
        )
        assert created.status_code == 200, created.text
        assert created.headers["Cache-Control"] == "no-store"
        [token] = requests.get(f"{url}/v1/clients/1/tokens", auth=AUTH, timeout=30).json()["data"]
        assert token["name"] == "ci <b>" and "ci &lt;b&gt;" in created.text
        secret = created.text.split('<output id="secret"><code>')[1].split("</code>")[0]
        listed = get(f"{url}/tokens", ADMIN)
        assert listed.status_code == 200 and secret not in listed.text
        assert f'<td class="num">{token["id"]}</td>' in listed.text and "read-only" in listed.text
        api = f"{url}/v1/experiments"
        assert requests.get(api, auth=(secret, ""), timeout=30).status_code == 200
        assert requests.post(api, auth=(secret, ""), json={}, timeout=30).status_code == 403
        revoked = post(f"{url}/tokens/{token['id']}/revoke", ADMIN, {}, Origin=url)
        assert (revoked.status_code, revoked.headers["Location"]) == (303, "/tokens")
        assert requests.get(api, auth=(secret, ""), timeout=30).status_code == 401
        assert "No stored tokens yet" in get(f"{url}/tokens", ADMIN).text

    def test_cross_site_forms_are_refused(self, threaded_service_url: str) -> None:
        """A create or revoke another site sends (its Origin, or Sec-Fetch-Site) is a 403
        and changes nothing."""
        url = threaded_service_url
        made = make_token(url)
        evil = "https://evil.example"
        for headers in ({"Origin": evil}, {"Sec-Fetch-Site": "cross-site"}):
            assert post(f"{url}/tokens", ADMIN, {"name": "x"}, **headers).status_code == 403
            revoke = post(f"{url}/tokens/{made['id']}/revoke", ADMIN, {}, **headers)
            assert revoke.status_code == 403
        listed = requests.get(f"{url}/v1/clients/1/tokens", auth=AUTH, timeout=30).json()
        assert [t["id"] for t in listed["data"]] == [made["id"]]

    def test_form_errors_are_shown_beside_the_form(self, threaded_service_url: str) -> None:
        """An expiry that is no duration or date, or an unknown experiment: the page again,
        with the error and what was typed, and no token made."""
        url = threaded_service_url
        bad = post(f"{url}/tokens", ADMIN, {"name": "keep me", "expires": "tomorrow"}, Origin=url)
        assert bad.status_code == 400 and "neither a duration" in bad.text
        assert 'value="keep me"' in bad.text
        missing = post(f"{url}/tokens", ADMIN, {"experiment": "999"}, Origin=url)
        assert missing.status_code == 404 and "No experiment 999" in missing.text
        listed = requests.get(f"{url}/v1/clients/1/tokens", auth=AUTH, timeout=30).json()
        assert listed["count"] == 0
        assert post(f"{url}/tokens/77/revoke", ADMIN, {}, Origin=url).status_code == 404
