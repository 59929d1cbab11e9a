"""What the API token tests share: the service's configured admin token, a caller that
sends any token as the official client does (HTTP Basic user name), and token making."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

#: The token given to the service at start: an admin.
ADMIN = "configured-admin-token-0123456789"
EXPERIMENT_BODY = {
    "name": "tokens",
    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
    "observation_budget": 10,
}


class Api:
    """`await api(method, path, token, body)` -> (status, JSON body)."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def __call__(
        self, method: str, path: str, token: str | None = ADMIN, body: Any = None
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = aiohttp.encode_basic_auth(token, "")
        data = None if body is None else json.dumps(body).encode()
        async with self.session.request(
            method, f"{self.url}{path}", data=data, headers=headers
        ) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)

    async def ok(self, method: str, path: str, token: str | None = ADMIN, body: Any = None) -> Any:
        status, answer = await self(method, path, token, body)
        assert status == 200, (method, path, status, answer)
        return answer

    async def make_token(self, token: str | None = ADMIN, **body: Any) -> dict[str, Any]:
        """A new token (its `token` field is the secret)."""
        made = await self.ok("POST", "/v1/clients/1/tokens", token, body)
        assert isinstance(made["token"], str) and len(made["token"]) >= 40
        return dict(made)

    async def make_experiment(self, token: str = ADMIN) -> str:
        return str((await self.ok("POST", "/v1/experiments", token, EXPERIMENT_BODY))["id"])

    async def make_ai_experiment(self, token: str | None = ADMIN, *, budget: int = 3) -> str:
        """An AI experiment of one metric `y`, in project `p` (made if it is not there)."""
        status, _ = await self("GET", "/v1/clients/1/projects/p", token)
        if status == 404:
            await self.ok("POST", "/v1/clients/1/projects", token, {"id": "p", "name": "P"})
        body = {
            "name": "ai",
            "parameters": EXPERIMENT_BODY["parameters"],
            "metrics": [{"name": "y"}],
            "budget": budget,
        }
        made = await self.ok("POST", "/v1/clients/1/projects/p/aiexperiments", token, body)
        return str(made["id"])
