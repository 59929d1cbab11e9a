"""No token in a JSON log line's traceback, where a 500 happens while a frame on the stack
holds one: the stored-token lookup (`TokenRegistry.identify(secret)`) failing on the store,
or any handler failing below the rate limiter (whose key is the Authorization header).
JSON is what the service logs when stderr is no terminal (`--log-format auto`)."""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import pytest
import structlog

from sigopt_service.config import ServiceConfig
from sigopt_service.http import middlewares as service_middlewares
from sigopt_service.http import running_service
from sigopt_service.logs import configure_logging
from sigopt_service.store import BaseStore, InMemoryStore, StoredToken
from tests.sigopt_service.test_security import TOKEN, WRONG, _ExplodingStore, basic, secrets_in


class _TokensUnreadable(InMemoryStore):
    """A store whose token table cannot be read (a broken disk, as `_ExplodingStore`)."""

    def active_tokens(self) -> list[StoredToken]:
        raise RuntimeError("disk on fire")


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    configure_logging("json", "info")
    # As `test_security.py`: no logger cached with this test's (soon closed) stderr.
    structlog.configure(cache_logger_on_first_use=False)
    monkeypatch.setattr(service_middlewares, "log", structlog.get_logger())
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("json_logs")
@pytest.mark.parametrize(
    ("store", "rate_limit", "sent"),
    [
        # Not the configured token: looked up among the stored ones, which fails.
        (_TokensUnreadable, None, WRONG),
        # The configured token, a handler failing under the rate limiter.
        (_ExplodingStore, 100.0, TOKEN),
    ],
    ids=["stored-token-lookup-fails", "handler-fails-under-rate-limit"],
)
async def test_a_500_in_json_logs_shows_no_token(
    capsys: pytest.CaptureFixture[str],
    store: type[BaseStore],
    rate_limit: float | None,
    sent: str,
) -> None:
    config = ServiceConfig(port=0, tokens=(TOKEN,), rate_limit_per_s=rate_limit)
    async with (
        aiohttp.ClientSession() as http,
        running_service(config, store=store()) as url,
        http.get(f"{url}/v1/experiments", headers=basic(sent)) as resp,
    ):
        assert resp.status == 500
        assert not secrets_in(await resp.text())
    err = capsys.readouterr().err
    assert "disk on fire" in err and "unhandled_error" in err
    assert '"exception"' in err  # the traceback is logged, as a dict
    assert not secrets_in(err), err[-3000:]
