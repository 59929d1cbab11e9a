"""An in-memory SigOpt fake (accepts duplicate observations) and helpers for client tests."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from orchestrator.client import RetryPolicy, ServiceClient
from orchestrator.transport import MockTransport, TransportResponse

FAST = RetryPolicy(max_attempts=6, max_total_s=5, initial_backoff_s=0.001, max_backoff_s=0.005)
TOKEN = "s3cret"


# -- an in-memory SigOpt fake, shared by the mock transport and the real aiohttp server ------


@dataclass
class FakeSigOpt:
    """Just enough of SigOpt v1 for the client: experiments, suggestions, observations.

    Like real SigOpt it accepts any number of observations for one suggestion, so tests can
    count duplicates. Lists are newest first, `page_size` items per page, `before` markers.
    """

    page_size: int = 3
    experiments: dict[int, dict[str, Any]] = field(default_factory=dict)
    suggestions: dict[int, dict[str, Any]] = field(default_factory=dict)
    observations: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def observations_per_suggestion(self) -> Counter[str]:
        return Counter(o["suggestion"] for o in self.observations.values())

    def _state(self, sid: int) -> str:
        closed = any(o["suggestion"] == str(sid) for o in self.observations.values())
        return "closed" if closed else "open"

    def _suggestion(self, sid: int) -> dict[str, Any]:
        return {**self.suggestions[sid], "state": self._state(sid)}

    def _page(self, items: dict[int, dict[str, Any]], params: Mapping[str, str]) -> dict[str, Any]:
        limit = int(params.get("limit", self.page_size))
        ids = sorted(items, reverse=True)
        if "before" in params:
            ids = [i for i in ids if i < int(params["before"])]
        page = ids[:limit]
        return {
            "object": "pagination",
            "count": len(ids),
            "data": [items[i] for i in page],
            "paging": {
                "before": str(page[-1]) if len(ids) > limit else None,
                "after": str(page[0]) if page else None,
            },
        }

    def handle(
        self, method: str, path: str, params: Mapping[str, str], body: Any
    ) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[:1] != ["experiments"]:
            return 404, {"message": f"Endpoint not found: {path}", "status": 404}
        if len(parts) == 1 and method == "POST":
            eid = self._new_id()
            self.experiments[eid] = {
                "object": "experiment",
                "id": str(eid),
                "name": body["name"],
                "parameters": body["parameters"],
                "metrics": body.get("metrics", [{"name": None}]),
            }
            return 200, self.experiments[eid]
        eid = int(parts[1])
        if eid not in self.experiments:
            return 404, {"message": f"No experiment {eid}", "status": 404}
        rest = parts[2:]
        if not rest and method == "GET":
            return 200, self.experiments[eid]
        if rest == ["suggestions"]:
            return self._suggestions(eid, method, params, body)
        if len(rest) == 2 and rest[0] == "suggestions":
            sid = int(rest[1])
            if sid not in self.suggestions:
                return 404, {"message": f"No suggestion {sid} for experiment {eid}", "status": 404}
            if method == "DELETE":
                self.suggestions[sid]["deleted"] = True
                return 200, {}
            return 200, self._suggestion(sid)
        if rest == ["observations"]:
            return self._observations(eid, method, params, body)
        if rest == ["best_assignments"]:
            best = [o for o in self.observations.values() if not o["failed"]][:1]
            return 200, self._page(
                dict(enumerate({**b, "object": "best_assignments"} for b in best)), {}
            )
        return 404, {"message": f"Endpoint not found: {path}", "status": 404}

    def _suggestions(
        self, eid: int, method: str, params: Mapping[str, str], body: Any
    ) -> tuple[int, Any]:
        if method == "POST":
            sid = self._new_id()
            self.suggestions[sid] = {
                "object": "suggestion",
                "id": str(sid),
                "experiment": str(eid),
                "assignments": {"x": sid / 1000},
                "metadata": (body or {}).get("metadata"),
                "deleted": False,
            }
            return 200, self._suggestion(sid)
        live = {
            sid: self._suggestion(sid)
            for sid, s in self.suggestions.items()
            if not s["deleted"] and (params.get("state") != "open" or self._state(sid) == "open")
        }
        if method == "DELETE":
            for sid in live:
                self.suggestions[sid]["deleted"] = True
            return 200, {}
        return 200, self._page(live, params)

    def _observations(
        self, eid: int, method: str, params: Mapping[str, str], body: Any
    ) -> tuple[int, Any]:
        if method == "GET":
            return 200, self._page(self.observations, params)
        sid = int(body["suggestion"])
        if sid not in self.suggestions or self.suggestions[sid]["deleted"]:
            message = f"No suggestion: {sid} for experiment: {eid}"
            return 400, {"message": message, "status": 400}
        oid = self._new_id()
        self.observations[oid] = {
            "object": "observation",
            "id": str(oid),
            "experiment": str(eid),
            "suggestion": str(sid),
            "assignments": self.suggestions[sid]["assignments"],
            "values": body.get("values") or [],
            "failed": bool(body.get("failed", False)),
            "metadata": body.get("metadata"),
        }
        return 200, self.observations[oid]

    # The two front ends.

    def mock_handler(
        self, method: str, path: str, params: Mapping[str, str] | None, body: Any
    ) -> TransportResponse:
        status, payload = self.handle(method, path, params or {}, body)
        return TransportResponse(status, payload)

    def app(self) -> web.Application:
        async def route(request: web.Request) -> web.Response:
            expected = "Basic " + base64.b64encode(f"{TOKEN}:".encode()).decode()
            if request.headers.get("Authorization") != expected:
                return web.json_response({"message": "No API token", "status": 401}, status=401)
            body = await request.json() if request.can_read_body else None
            path = request.path.removeprefix("/v1")
            status, payload = self.handle(request.method, path, request.query, body)
            return web.json_response(payload, status=status)

        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", route)
        return app


EXPERIMENT_BODY = {"name": "t", "parameters": [{"name": "x", "type": "double"}]}


def ok(body: Any, headers: Mapping[str, str] | None = None) -> TransportResponse:
    return TransportResponse(200, body, headers or {})


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> TransportResponse:
    return TransportResponse(status, {"message": message, "status": status}, headers or {})


EXPERIMENT = {"object": "experiment", "id": "7", "name": "e", "parameters": [], "metrics": []}


def client_for(transport: MockTransport, retry: RetryPolicy = FAST) -> ServiceClient:
    return ServiceClient("http://unused.invalid", retry=retry, transport=transport)


def flaky(failures: list[TransportResponse | Exception]) -> MockTransport:
    """Answers with `failures` in order, then with the experiment forever."""
    pending = list(failures)

    def handler(method: str, path: str, params: Any, json: Any) -> TransportResponse:
        if pending:
            item = pending.pop(0)
            if isinstance(item, Exception):
                raise item
            return item
        return ok(EXPERIMENT)

    return MockTransport(handler)
