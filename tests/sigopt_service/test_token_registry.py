"""`TokenRegistry` on a real SQLite file and the store thread, on an injected clock: when
a token expires, how often its last use is written, what a read-only service writes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from sigopt_service.engine import Engine
from sigopt_service.errors import RecordNotFound, Unauthorized
from sigopt_service.store import CachingStore, SqliteStore
from sigopt_service.usecases import TokenRegistry, hash_secret
from sigopt_service.usecases._calls import StoreCalls
from sigopt_service.usecases._tokens import LAST_USE_WRITE_EVERY_S


@dataclass
class Clock:
    now: float = 2_000_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Running:
    registry: TokenRegistry
    store: CachingStore
    clock: Clock
    path: Path


@asynccontextmanager
async def _running(path: Path, *, read_only: bool = False) -> AsyncIterator[Running]:
    store = CachingStore(SqliteStore(path, read_only=read_only))
    calls = StoreCalls(store, Engine(store))
    calls.start()
    clock = Clock()
    try:
        yield Running(
            TokenRegistry(calls, store, read_only=read_only, clock=clock), store, clock, path
        )
    finally:
        await calls.aclose()
        store.close()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async with _running(tmp_path / "tokens.db") as made:
        yield made


class TestRegistry:
    async def test_expiry(self, running: Running) -> None:
        """A token is accepted until its `expires`, and refused from that second on."""
        issued = await running.registry.create({"expires": int(running.clock.now) + 10})
        assert (await running.registry.identify(issued.secret)).id == issued.token.id
        running.clock.now += 10
        with pytest.raises(Unauthorized, match="expired at 2033-05-18T03:33:30"):
            await running.registry.identify(issued.secret)

    async def test_reprs_hold_no_secret(self, running: Running) -> None:
        """What creating and rotating answer, and the registry, print no secret or hash:
        a repr may end up in a log line or a traceback."""
        issued = await running.registry.create({"name": "ci"})
        rotated, secret = await running.registry.update(issued.token.id, {"token": "rotate"})
        assert secret is not None
        shown = repr(issued) + repr(rotated) + repr(running.registry)
        for hidden in (issued.secret, secret, hash_secret(issued.secret), hash_secret(secret)):
            assert hidden not in shown
        assert "ci" in repr(issued)

    async def test_last_use_is_written_at_most_once_a_minute(self, running: Running) -> None:
        """1. The first use is written. 2. Uses within a minute are kept in memory only
        (what reads show). 3. A minute after the last write, the next use is written."""
        issued = await running.registry.create({})
        token_id = issued.token.id
        first = int(running.clock.now)
        await running.registry.identify(issued.secret)
        assert running.store.get_token(token_id).last_used == first
        running.clock.now += LAST_USE_WRITE_EVERY_S - 1
        await running.registry.identify(issued.secret)
        assert running.store.get_token(token_id).last_used == first
        assert (await running.registry.get(token_id)).last_used == first + 59
        running.clock.now += 1
        await running.registry.identify(issued.secret)
        assert running.store.get_token(token_id).last_used == first + 60

    async def test_table_is_loaded_from_the_store(self, running: Running) -> None:
        """A registry that starts on a file with tokens in it knows them, secrets by hash,
        and the revoked ones not."""
        kept, revoked = await running.registry.create({}), await running.registry.create({})
        await running.registry.revoke(revoked.token.id)
        async with _running(running.path) as again:
            assert (await again.registry.identify(kept.secret)).id == kept.token.id
            with pytest.raises(Unauthorized, match="Invalid API token"):
                await again.registry.identify(revoked.secret)
        stored = running.store.get_token(kept.token.id)
        assert stored.secret_hash == hash_secret(kept.secret) != kept.secret

    async def test_failed_revoke_keeps_the_token(self, running: Running) -> None:
        """Revoking an unknown id changes nothing; the known token still works."""
        issued = await running.registry.create({})
        with pytest.raises(RecordNotFound):
            await running.registry.revoke(issued.token.id + 1)
        await running.registry.identify(issued.secret)


async def test_read_only_service_writes_no_last_use(tmp_path: Path) -> None:
    """A read-only service (`orchestrator dashboard`) accepts stored tokens and keeps
    their last use in memory only: the file is never written."""
    path = tmp_path / "tokens.db"
    async with _running(path) as writable:
        issued = await writable.registry.create({})
    async with _running(path, read_only=True) as looking:
        token = await looking.registry.identify(issued.secret)
        assert token.last_used == int(looking.clock.now)
        assert looking.store.get_token(token.id).last_used is None
