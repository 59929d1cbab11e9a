"""Debian's Chromium as the page tests and the pages benchmark launch it: by path, through
Playwright (nothing downloaded), headless, without the background traffic that would be a
request off the service's host."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
