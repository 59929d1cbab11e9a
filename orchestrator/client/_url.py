"""The service's base URLs as the client joins paths to them: `{base}/v1{path}`."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["base_urls", "checked_base_url", "normalize_base_url", "split_urls"]


def normalize_base_url(url: str) -> str:
    """`url` without trailing slashes and without a trailing `/v1`, which the client adds.

    Users copy the API's address in any of these shapes; each would otherwise become a 404
    (`//v1/experiments`, `/v1/v1/experiments`):

    ```python
    normalize_base_url("http://host:8080/")      # "http://host:8080"
    normalize_base_url("http://host:8080/v1/")   # "http://host:8080"
    normalize_base_url("https://h/api/v1")       # "https://h/api"
    ```
    """
    base = url.rstrip("/")
    if base.endswith("/v1"):
        base = base.removesuffix("/v1").rstrip("/")
    return base


def split_urls(text: str) -> list[str]:
    """A comma-separated list of URLs (`--api-url http://a:8080,http://b:8080`), each
    stripped of surrounding spaces; one URL is a list of one. An empty entry is kept, for
    the caller's check to name it."""
    return [part.strip() for part in text.split(",")]


def checked_base_url(url: str) -> str:
    """`url` normalised (`normalize_base_url`); `ValueError` unless it is http(s)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"must start with http:// or https://, got {url!r}")
    return normalize_base_url(url)


def base_urls(urls: str | Sequence[str]) -> tuple[str, ...]:
    """The service's URLs, in the order the client tries them: a comma-separated string or
    a sequence, each normalised. No scheme check (a test transport's URL is only a name);
    `ValueError` when there is none or one is empty."""
    entries = split_urls(urls) if isinstance(urls, str) else list(urls)
    if not entries or any(not entry.strip() for entry in entries):
        raise ValueError(f"need one or more non-empty service URLs, got {urls!r}")
    return tuple(normalize_base_url(entry.strip()) for entry in entries)
