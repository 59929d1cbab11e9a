"""A real Dask cluster per test (`support.DaskCluster`), killed as process groups after,
and the client of the real service the coordinator runs against."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from orchestrator.client import ServiceClient
from tests.orchestrator.conftest import FAST_RETRY
from tests.workers.dask.support import DaskCluster


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[DaskCluster]:
    folder = tmp_path / "dask"
    folder.mkdir()
    cluster = DaskCluster(folder)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def client(service_url: str) -> AsyncIterator[ServiceClient]:
    """The real client on the real loopback service (as the coordinator tests')."""
    async with ServiceClient(service_url, retry=FAST_RETRY) as c:
        yield c
