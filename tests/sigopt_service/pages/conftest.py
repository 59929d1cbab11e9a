"""Fixtures of the page tests: one headless Chromium (Debian's `chromium`, driven by
Playwright by path: nothing is downloaded), and a page that records every request and
every console error it sees.

The browser is module-scoped, and every browser test lives in `test_browser.py`, so the
session starts one. Not session-scoped: Playwright's sync API keeps its own event loop
marked as running on this thread while it is open, which would break every asyncio test
that runs after it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("the page tests need Debian's chromium: run `make test-tools`")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class WatchedPage:
    """A browser page plus what it did: every request's URL, console errors, page errors."""

    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def off_host(self, base_url: str) -> list[str]:
        """Requests to anywhere but the service's own host and port."""
        own = urlsplit(base_url).netloc
        return [u for u in self.requests if urlsplit(u).netloc != own]


def watch(page: Page) -> WatchedPage:
    watched = WatchedPage(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(message.text)

    def on_request(request: Request) -> None:
        watched.requests.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    page.on("request", on_request)
    return watched


@pytest.fixture
def tab(browser: Browser) -> Iterator[WatchedPage]:
    """A fresh context (no cookies) and page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield watch(context.new_page())
    finally:
        context.close()
