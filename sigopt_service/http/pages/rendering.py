"""Rendering of the pages: the Jinja2 environment (autoescaped), the security headers every
page carries, and the static files (our own, and the `plotly.min.js` that the `plotly`
wheel ships), served from the service's own host with long-lived caching.

```python
return render(request, "analysis.html", experiment=..., table=...)   # 200, text/html, CSP
```
User-written text reaches a page in two ways only: autoescaped into HTML, or as JSON in a
`<script type="application/json">` element (`|tojson` escapes `<`, `>`, `&`, `'`), which
the page's own scripts parse. No template writes into JavaScript source.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import anyio.to_thread
import jinja2
from aiohttp import web

from sigopt_service.http.access import CALLER
from sigopt_service.http.pages.sessions import BY_SESSION

#: Scripts and styles from this host only; no inline script. Plotly.js sets `style`
#: attributes and injects a `<style>` element as it draws (checked in the browser tests),
#: which CSP counts as inline style: hence `'unsafe-inline'` for styles alone. `data:`
#: images are plotly's "download as PNG".
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # Pages show live data and may hold a signed-in user's view: never from a cache.
    "Cache-Control": "no-store",
}

_HERE = importlib.resources.files("sigopt_service.http.pages")
_STATIC = _HERE / "static"
#: A static file whose URL carries its content hash never changes: cached for a year.
_IMMUTABLE = "public, max-age=31536000, immutable"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sigopt_service.http.pages", "templates"),
        autoescape=True,  # every template is HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static_url
    env.filters["when"] = format_time
    env.filters["number"] = format_number
    return env


def _tokens_link(request: web.Request) -> bool:
    """Whether the header links to the tokens page: for an admin token's pages."""
    caller = request.get(CALLER)
    return caller is not None and caller.is_admin


def render_text(request: web.Request, template: str, **context: Any) -> str:
    context.setdefault("signed_in", request.get(BY_SESSION, False))
    context.setdefault("tokens_link", _tokens_link(request))
    return environment().get_template(template).render(**context)


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """The template rendered as a page, with `PAGE_HEADERS`."""
    return _page(status, render_text(request, template, **context))


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    """The error page: the status and what went wrong."""
    return render(request, "error.html", status=status, status_code=status, message=message)


def see_other(location: str) -> web.Response:
    """A 303 to `location` (after a form, or to the login form), with `PAGE_HEADERS`."""
    return web.Response(status=303, headers={**PAGE_HEADERS, "Location": location})


async def render_text_off_loop(
    request: web.Request, template: str, build: Callable[[], dict[str, Any]]
) -> str:
    """The template rendered with the context `build()` makes, both on a worker thread:
    for a page over a whole history (a tenth of a second at 10,000 observations), which
    would otherwise hold up every other request of the service meanwhile."""
    signed_in = request.get(BY_SESSION, False)
    tokens_link = _tokens_link(request)

    def page() -> str:
        context = {"signed_in": signed_in, "tokens_link": tokens_link, **build()}
        return environment().get_template(template).render(**context)

    return await anyio.to_thread.run_sync(page)


async def render_off_loop(
    request: web.Request, template: str, build: Callable[[], dict[str, Any]]
) -> web.Response:
    """`render_text_off_loop` as a page."""
    return _page(200, await render_text_off_loop(request, template, build))


async def start_page(request: web.Request) -> web.StreamResponse:
    """A page sent in parts (`write` each, then `write_eof`), with `PAGE_HEADERS`."""
    response = web.StreamResponse(headers=PAGE_HEADERS)
    response.content_type = "text/html"
    response.charset = "utf-8"
    await response.prepare(request)
    return response


def _page(status: int, text: str) -> web.Response:
    return web.Response(
        status=status, text=text, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS
    )


def format_time(epoch_s: int | float | None) -> str:
    if epoch_s is None:
        return ""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_number(value: Any) -> str:
    """Numbers as a table shows them: up to 6 significant digits; anything else as is."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


# -- static files ---------------------------------------------------------------------
def _plotly_js() -> Path:
    # The wheel's own copy: no CDN, no build step, the version pip installed.
    return Path(str(importlib.resources.files("plotly") / "package_data" / "plotly.min.js"))


@cache
def _static_files() -> dict[str, tuple[Path, str]]:
    """URL name -> (file, content hash), read once."""
    files = {p.name: Path(str(p)) for p in _STATIC.iterdir() if p.is_file()}
    files["plotly.min.js"] = _plotly_js()
    out = {}
    for name, path in files.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        out[name] = (path, digest)
    return out


def static_url(name: str) -> str:
    """`/static/NAME?v=HASH`: a new version is a new URL, so caches never serve a stale one."""
    _, digest = _static_files()[name]
    return f"/static/{name}?v={digest}"


async def static_file(request: web.Request) -> web.StreamResponse:
    found = _static_files().get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    path, digest = found
    cache_control = _IMMUTABLE if request.query.get("v") == digest else "no-cache"
    return web.FileResponse(
        path,
        headers={
            "Cache-Control": cache_control,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
        },
    )
