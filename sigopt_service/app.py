"""The service's aiohttp application: factory, middlewares, lifecycle and runners.

```python
async with running_service(ServiceConfig(port=0, db=path)) as url:   # "http://127.0.0.1:PORT"
    ...  # point any SigOpt client at `url`
```
Handlers live in `handlers_*.py`, routed by `handlers.py`; they reach the store and the
engine only through `ServiceState.call`, which runs the synchronous work on the one
store thread (`store_thread.py`): SQLite sees a single writer, in arrival order. The hot
path (`call_hot`: a suggestion from a model-free engine, an observation, without fsync)
runs on the loop when the thread is idle, since that work takes less time than the
hand-off; anything that can take milliseconds never does.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import anyio
import anyio.to_thread
import structlog
from aiohttp import web
from anyio.abc import TaskStatus

from sigopt_service.best import best_observations
from sigopt_service.config import ServiceConfig
from sigopt_service.engine import Engine
from sigopt_service.errors import ApiError, InvalidRequest, RateLimited, StoreError, Unauthorized
from sigopt_service.models import Experiment, Observation
from sigopt_service.store import BaseStore, InMemoryStore
from sigopt_service.store_thread import StoreThread

log = structlog.get_logger()

P = ParamSpec("P")
R = TypeVar("R")
V = TypeVar("V")

EXPERIMENT_CACHE_SIZE = 256
JSON_HEADERS = {"Cache-Control": "no-cache, no-store"}
AUTH_MESSAGE = (
    "No API token provided. API requests are authenticated using HTTP Basic Auth, with the "
    "API token as the username and a blank password."
)
# Paths that need no token: the API description is public so it can be browsed and fuzzed.
PUBLIC_PATHS = frozenset({"/v1/openapi.json"})


def _remember(cache: OrderedDict[int, V], key: int, value: V) -> None:
    """Keep `value`, dropping the least recently kept entry past EXPERIMENT_CACHE_SIZE."""
    cache[key] = value
    if len(cache) > EXPERIMENT_CACHE_SIZE:
        cache.popitem(last=False)


@dataclass
class ServiceState:
    config: ServiceConfig
    store: BaseStore
    engine: Engine
    runner: StoreThread = field(default_factory=StoreThread)
    #: Experiments by id. Only this service writes its database and every write to an
    #: experiment goes through `forget`, so the cache cannot go stale; it saves a read on
    #: every suggest and observe (the hot path).
    _experiments: OrderedDict[int, Experiment] = field(default_factory=OrderedDict)

    def experiment(self, experiment_id: int) -> Experiment:
        """The experiment (store thread only); raises NotFound like the store."""
        cached = self._experiments.get(experiment_id)
        if cached is not None:
            self._experiments.move_to_end(experiment_id)
            return cached
        found = self.store.get_experiment(experiment_id)
        _remember(self._experiments, experiment_id, found)
        return found

    #: [observations, open suggestions] by experiment, kept exact by the handlers'
    #: `count_*` calls and dropped by `forget_counts` on anything else that changes them.
    _counts: OrderedDict[int, list[int]] = field(default_factory=OrderedDict)
    #: Best observation by single-metric experiment, kept by `observations_created`.
    _best: OrderedDict[int, Observation | None] = field(default_factory=OrderedDict)

    def forget(self, experiment_id: int) -> None:
        """After the experiment itself changed (updated, deleted): drop it and all views."""
        self._experiments.pop(experiment_id, None)
        self.changed(experiment_id)

    def counts(self, experiment_id: int) -> tuple[int, int]:
        """(observations, open suggestions), O(1) once known; store thread only."""
        known = self._counts.get(experiment_id)
        if known is None:
            known = [
                self.store.observation_count(experiment_id),
                self.store.open_suggestion_count(experiment_id),
            ]
            _remember(self._counts, experiment_id, known)
        return known[0], known[1]

    def count_created(
        self, experiment_id: int, *, observations: int = 0, suggestions: int = 0, closed: int = 0
    ) -> None:
        known = self._counts.get(experiment_id)
        if known is not None:
            known[0] += observations
            known[1] += suggestions - closed

    def forget_counts(self, experiment_id: int) -> None:
        self._counts.pop(experiment_id, None)

    def changed(self, experiment_id: int) -> None:
        """After a non-monotonic change (a delete, an update): whatever was derived from
        the experiment's history (counts, best, the optimizer's study) is rebuilt on use."""
        self.forget_counts(experiment_id)
        self._best.pop(experiment_id, None)
        self.engine.invalidate(experiment_id)

    def best(self, experiment: Experiment) -> Observation | None:
        """The best observation of a single-metric experiment (its `progress`), read from
        the whole history once and then kept up to date by `observations_created`."""
        experiment_id = int(experiment.id)
        if experiment_id not in self._best:
            found = best_observations(experiment, self.store.all_observations(experiment_id))
            _remember(self._best, experiment_id, found[0] if found else None)
        return self._best[experiment_id]

    def observations_created(self, experiment: Experiment, created: Sequence[Observation]) -> None:
        """After new observations are committed: keep the counts and the best observation
        exact, and tell the optimizer."""
        experiment_id = int(experiment.id)
        if self.config.allow_duplicate_observations:
            # A second observation closes nothing new: recount from the store next time.
            self.forget_counts(experiment_id)
        else:
            closed = sum(1 for o in created if o.suggestion is not None)
            self.count_created(experiment_id, observations=len(created), closed=closed)
        if experiment_id in self._best:
            # The best of all is the best of (the best so far, the new ones).
            previous = self._best[experiment_id]
            found = best_observations(experiment, [*([previous] if previous else []), *created])
            self._best[experiment_id] = found[0] if found else None
        self.engine.observed(experiment, created)

    async def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run store/engine work off the loop, one call at a time, in arrival order, on
        the one store thread (see `store_thread.py`: a queued write always completes)."""
        result = await self.runner.call(fn, *args, **kwargs)
        await self._maintain()
        return result

    async def call_hot(
        self, experiment_id: int, work: Callable[[], R], *, asks: bool, counts: bool = False
    ) -> R:
        """`call` for the hot path (create a suggestion, report an observation): when the
        work is known to take microseconds and nothing is queued before it, it runs right
        here on the loop (`StoreThread.run_now_if_idle`); otherwise as `call`. `asks`: the
        work asks the engine for new assignments; `counts`: it reads `counts()` (the
        budget guard)."""
        if self.store.writes_are_quick:  # else every commit fsyncs
            ran, result = self.runner.run_now_if_idle(
                work, quick=lambda: self._warm(experiment_id, asks=asks, counts=counts)
            )
            if ran:
                await self._maintain()
                return result  # type: ignore[return-value]  # ran: `work`'s own result
        return await self.call(work)

    def _warm(self, experiment_id: int, *, asks: bool, counts: bool) -> bool:
        """Whether the work on this experiment reads nothing cold: the experiment (and,
        if it reads them, its counts) cached, and when it asks, a model-free engine warm."""
        experiment = self._experiments.get(experiment_id)
        if experiment is None or (counts and experiment_id not in self._counts):
            return False
        return not asks or self.engine.ask_is_quick(experiment)

    async def _maintain(self) -> None:
        """Slow housekeeping (a WAL checkpoint that syncs the file), on the thread. The
        caller's write is committed already: a failed checkpoint is logged, not raised
        (the WAL still holds every commit; the next one tries again)."""
        if self.store.maintenance_due:
            try:
                await self.runner.call(self.store.maintain)
            except StoreError as exc:
                log.warning("checkpoint_failed", error=str(exc))


STATE = web.AppKey("state", ServiceState)


def json_response(request: web.Request, body: Any, status: int = 200) -> web.Response:
    if request.headers.get("X-Response-Content", "").lower() == "skip":
        return web.Response(status=204, headers=JSON_HEADERS)
    return web.Response(
        status=status,
        text=json.dumps(body, allow_nan=False),
        content_type="application/json",
        headers=JSON_HEADERS,
    )


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"message": message, "status": status}),
        content_type="application/json",
        headers={**JSON_HEADERS, **(headers or {})},
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RateLimited as exc:
        return error_response(
            exc.status, exc.message, {"Retry-After": str(max(1, round(exc.retry_after_s)))}
        )
    except Unauthorized as exc:
        return error_response(
            exc.status, exc.message, {"WWW-Authenticate": 'Basic realm="SigOpt API"'}
        )
    except ApiError as exc:
        return error_response(exc.status, exc.message)
    except web.HTTPException as exc:
        return _http_exception_response(request, exc)
    except Exception:
        log.exception("unhandled_error", method=request.method, path=request.path)
        return error_response(500, "An unexpected server error has occurred.")


def _http_exception_response(request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
    if exc.status == 404:
        return error_response(404, f"Endpoint not found: {request.path}")
    if exc.status == 405:
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
        return error_response(405, f"This endpoint accepts only the following methods: {allowed}")
    if exc.status == 413:
        limit = request.app[STATE].config.max_body_bytes
        return error_response(413, f"Request body is larger than the limit of {limit} bytes")
    return error_response(exc.status, exc.reason or "HTTP error")


def token_of(request: web.Request) -> str | None:
    """The HTTP Basic username, as the official client sends its token; None if absent."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidRequest("Could not parse API token: use HTTP Basic Auth")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("Could not parse API token from the Authorization header") from None
    return decoded.partition(":")[0]


def _token_is_known(token: str, tokens: tuple[str, ...]) -> bool:
    # Compare against every token, in constant time each, so timing reveals nothing.
    found = False
    for known in tokens:
        found |= hmac.compare_digest(token.encode(), known.encode())
    return found


def _authenticate(request: web.Request) -> None:
    """Raise Unauthorized unless the request carries a known token (when any is set)."""
    tokens = request.app[STATE].config.tokens
    if tokens and request.path not in PUBLIC_PATHS:
        token = token_of(request)
        if not token:
            raise Unauthorized(AUTH_MESSAGE)
        if not _token_is_known(token, tokens):
            raise Unauthorized("Invalid API token.")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # The check runs in its own frame: no token is a local of a frame that stays on the
    # stack while the handler runs, so a traceback that shows locals cannot print one.
    _authenticate(request)
    return await handler(request)


class RateLimiter:
    """Fixed one-second windows per caller, as sigopt-server counts them."""

    def __init__(self, per_s: float) -> None:
        self.per_s = per_s
        self._windows: dict[str, tuple[int, int]] = {}

    def check(self, key: str, now: float) -> None:
        window = int(now)
        start, count = self._windows.get(key, (window, 0))
        if start != window:
            start, count = window, 0
            if len(self._windows) > 10_000:  # bound memory: forget callers of past windows
                self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        if count >= self.per_s:
            raise RateLimited(
                "Your account has been temporarily disabled because of too many requests. "
                "Please wait a few minutes and try again more slowly.",
                retry_after_s=1.0 - (now - window),
            )
        self._windows[key] = (start, count + 1)


RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    limiter = request.app.get(RATE_LIMITER)
    if limiter is not None:
        key = request.headers.get("Authorization") or request.remote or "anonymous"
        limiter.check(key, time.monotonic())
    return await handler(request)


def open_store(config: ServiceConfig) -> BaseStore:
    if config.db is None:
        return InMemoryStore()
    from sigopt_service.sqlite_store import SqliteStore

    config.db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Checkpoints run on the store thread (`ServiceState._maintain`), never inside a write
    # that `call_hot` may run on the loop.
    return SqliteStore(config.db, synchronous=config.synchronous, autocheckpoint=False)


def create_app(config: ServiceConfig, *, store: BaseStore | None = None) -> web.Application:
    """The application; the store opens on startup (unless given) and closes on cleanup."""
    from sigopt_service.handlers import add_routes

    app = web.Application(
        middlewares=[error_middleware, auth_middleware, rate_limit_middleware],
        client_max_size=config.max_body_bytes,
    )
    if config.rate_limit_per_s is not None:
        app[RATE_LIMITER] = RateLimiter(config.rate_limit_per_s)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        opened: BaseStore = (
            store if store is not None else await anyio.to_thread.run_sync(open_store, config)
        )
        state = ServiceState(
            config=config,
            store=opened,
            engine=Engine(opened, seed=config.seed, use_gp=config.use_gp),
        )
        app[STATE] = state
        state.runner.start()
        log.info("service_started", db=str(config.db) if config.db else ":memory:")
        try:
            yield
        finally:
            # Shielded and bounded: queued writes finish, then the store closes, as the
            # store thread's last job (so it never races a write).
            with anyio.CancelScope(shield=True), anyio.move_on_after(30):
                if store is None:
                    await state.runner.call(opened.close)
                await state.runner.aclose()
        log.info("service_stopped")

    app.cleanup_ctx.append(lifecycle)
    add_routes(app)
    return app


@asynccontextmanager
async def running_service(
    config: ServiceConfig, *, store: BaseStore | None = None
) -> AsyncIterator[str]:
    """Serve on `config.host`/`config.port` (0: a free port) and yield the base URL."""
    runner = web.AppRunner(
        create_app(config, store=store), access_log=None, handle_signals=False, shutdown_timeout=5.0
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{port}"
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            await runner.cleanup()


async def serve(
    config: ServiceConfig, *, task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Run until cancelled; for `await task_group.start(serve, config)` which returns the URL."""
    async with running_service(config) as url:
        log.info("service_listening", url=url)
        task_status.started(url)
        await anyio.sleep_forever()
