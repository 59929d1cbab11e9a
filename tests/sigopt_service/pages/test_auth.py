"""Who may see the pages: the API's tokens, as HTTP Basic or through the login form's
session cookie; a browser without either is sent to the login form; the login form
refuses cross-site posts; a loopback service without tokens stays open."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from sigopt_service.config import ServiceConfig
from sigopt_service.http.pages.sessions import COOKIE_NAME
from tests.sigopt_service.pages.fill import api, fill

TOKEN = "page-token-0123456789"
AUTH = (TOKEN, "")


#: `next=` values that would send a browser to another host.
OFF_HOST_TARGETS = (
    "//evil.example/x",
    "https://evil.example",
    "/\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
)

#: What a browser's navigation accepts: it is sent to the login form, not just refused.
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def no_redirect(url: str, **kwargs: object) -> requests.Response:
    return requests.get(url, allow_redirects=False, timeout=30, headers=BROWSER, **kwargs)  # type: ignore[arg-type]


def post_login(url: str, token: str, **headers: str) -> requests.Response:
    return requests.post(
        f"{url}/login",
        data={"token": token, "next": "/experiments"},
        headers=headers,
        allow_redirects=False,
        timeout=30,
    )


class TestWithTokens:
    @pytest.fixture
    def service_config(self, tmp_path: Path) -> ServiceConfig:
        return ServiceConfig(port=0, db=tmp_path / "service.db", tokens=(TOKEN,))

    def test_every_page_needs_the_token(self, threaded_service_url: str) -> None:
        """Without a token each page, JSON, CSV and the importances resource are refused
        (a browser's GET is sent to the login form, naming where it was going); with
        HTTP Basic each answers."""
        url = threaded_service_url
        filled = fill(url, 12, auth=AUTH)
        paths = [
            "/",
            "/experiments",
            f"/experiment/{filled.id}",
            f"/experiment/{filled.id}/analysis",
            f"/experiment/{filled.id}/analysis/observations",
            f"/experiment/{filled.id}/history.json",
            f"/experiment/{filled.id}/importances.json",
            f"/experiment/{filled.id}/historydownload",
        ]
        for path in paths:
            refused = no_redirect(f"{url}{path}")
            assert refused.status_code == 303, path
            assert refused.headers["Location"] == f"/login?next={path}"
            assert TOKEN not in refused.text and "accuracy" not in refused.text
            wrong = no_redirect(f"{url}{path}", auth=("wrong", ""))
            assert wrong.status_code == 303, path
            script = requests.get(f"{url}{path}", allow_redirects=False, timeout=30)
            assert script.status_code == 401, path  # not a browser: refused, not redirected
            assert no_redirect(f"{url}{path}", auth=AUTH).status_code == 200, path
        importances = f"{url}/v1/experiments/{filled.id}/metric_importances"
        assert requests.get(importances, timeout=30).status_code == 401
        assert requests.get(importances, auth=AUTH, timeout=30).status_code == 200
        assert no_redirect(f"{url}/login").status_code == 200  # the way in stays open
        assert requests.post(f"{url}/logout", timeout=30).status_code == 401

    def test_login_sets_a_session_cookie_not_the_token(self, threaded_service_url: str) -> None:
        """A known token opens a session: an HttpOnly, SameSite=Strict cookie holding a
        random id; it opens the pages (not the API) until signing out."""
        url = threaded_service_url
        assert post_login(url, "wrong").status_code == 401
        signed = post_login(url, TOKEN, Origin=url)
        assert signed.status_code == 303 and signed.headers["Location"] == "/experiments"
        cookie = signed.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
        session = signed.cookies[COOKIE_NAME]
        cookies = {COOKIE_NAME: session}
        assert no_redirect(f"{url}/experiments", cookies=cookies).status_code == 200
        assert requests.get(f"{url}/v1/experiments", cookies=cookies, timeout=30).status_code == 401
        out = requests.post(
            f"{url}/logout", cookies=cookies, headers={"Origin": url}, allow_redirects=False
        )
        assert out.status_code == 303
        assert no_redirect(f"{url}/experiments", cookies=cookies).status_code == 303

    def test_cross_site_login_is_refused(self, threaded_service_url: str) -> None:
        """A form posted from another site (Origin or Sec-Fetch-Site say so) opens nothing."""
        url = threaded_service_url
        assert post_login(url, TOKEN, Origin="https://evil.example").status_code == 403
        assert post_login(url, TOKEN, **{"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert "Set-Cookie" not in post_login(url, TOKEN, Origin="null").headers

    def test_next_never_leaves_the_host(self, threaded_service_url: str) -> None:
        """Nor by a tab or line break, which browsers drop: `/<TAB>/evil.example` would
        be `//evil.example`."""
        url = threaded_service_url
        for target in OFF_HOST_TARGETS:
            answer = requests.post(
                f"{url}/login",
                data={"token": TOKEN, "next": target},
                allow_redirects=False,
                timeout=30,
            )
            assert answer.headers["Location"] == "/", target


class TestWithoutTokens:
    def test_loopback_service_is_open(self, threaded_service_url: str) -> None:
        """No tokens (loopback only): pages open without any credentials; /login just
        sends the browser on."""
        filled = fill(threaded_service_url, 3)
        assert api("GET", filled.analysis).status_code == 200
        login = no_redirect(f"{threaded_service_url}/login?next=/experiments")
        assert login.status_code == 303 and login.headers["Location"] == "/experiments"
        for target in OFF_HOST_TARGETS:
            sent_on = no_redirect(f"{threaded_service_url}/login", params={"next": target})
            assert sent_on.status_code == 303 and sent_on.headers["Location"] == "/", target
