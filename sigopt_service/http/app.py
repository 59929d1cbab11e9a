"""The service's aiohttp application: the factory, its lifecycle, and the runners.

```python
async with running_service(ServiceConfig(port=0, db=path)) as url:   # "http://127.0.0.1:PORT"
    ...  # point any SigOpt client at `url`
```
The application holds the config from the start and, from startup to cleanup, the
use-case object (`OptimizationService`, which owns the store thread); handlers reach
both through the typed keys of `context.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
import structlog
from aiohttp import web
from anyio.abc import TaskStatus

from sigopt_service.config import ServiceConfig
from sigopt_service.http.context import CONFIG, SERVICE
from sigopt_service.http.middlewares import MIDDLEWARES, RATE_LIMITER, RateLimiter
from sigopt_service.http.pages import add_pages
from sigopt_service.http.read_only import read_only_middleware
from sigopt_service.http.routes import add_routes
from sigopt_service.store import BaseStore
from sigopt_service.usecases import OptimizationService, open_store

log = structlog.get_logger()

#: How long cleanup waits for queued writes and the store's close.
CLEANUP_TIMEOUT_S = 30
#: How long `running_service` waits for open connections and cleanup on exit.
SHUTDOWN_TIMEOUT_S = 10


def create_app(config: ServiceConfig, *, store: BaseStore | None = None) -> web.Application:
    """The application; the store opens on startup (unless given) and closes on cleanup."""
    # Read-only: after authentication, so an unknown caller learns nothing more.
    middlewares = (*MIDDLEWARES, read_only_middleware) if config.read_only else MIDDLEWARES
    app = web.Application(middlewares=middlewares, client_max_size=config.max_body_bytes)
    app[CONFIG] = config
    if config.rate_limit_per_s is not None:
        app[RATE_LIMITER] = RateLimiter(config.rate_limit_per_s)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        opened: BaseStore = (
            store if store is not None else await anyio.to_thread.run_sync(open_store, config)
        )
        service = OptimizationService(config, opened, owns_store=store is None)
        app[SERVICE] = service
        service.start()
        log.info(
            "service_started",
            db=str(config.db) if config.db else ":memory:",
            read_only=config.read_only,
        )
        try:
            yield
        finally:
            # Shielded and bounded: queued writes finish, then the store closes, as the
            # store thread's last job (so it never races a write).
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_TIMEOUT_S):
                await service.aclose()
        log.info("service_stopped")

    app.cleanup_ctx.append(lifecycle)
    add_routes(app)
    add_pages(app)
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
        with anyio.CancelScope(shield=True), anyio.move_on_after(SHUTDOWN_TIMEOUT_S):
            await runner.cleanup()


async def serve(
    config: ServiceConfig, *, task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Run until cancelled; for `await task_group.start(serve, config)` which returns the URL."""
    async with running_service(config) as url:
        log.info("service_listening", url=url)
        task_status.started(url)
        await anyio.sleep_forever()
