"""The service's base URL as the client joins paths to it: `{base}/v1{path}`."""

from __future__ import annotations

__all__ = ["normalize_base_url"]


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
