"""The `store` fixture: every test that takes it runs once per store in STORE_MODES."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sigopt_service.store import BaseStore
from tests.sigopt_service.store.helpers import STORE_MODES, make_store, new_experiment


@pytest.fixture(params=STORE_MODES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseStore]:
    url = request.getfixturevalue("postgres_url") if "postgres" in request.param else None
    made = make_store(request.param, tmp_path, url)
    yield made
    made.close()


@pytest.fixture
def eid(store: BaseStore) -> int:
    return int(store.create_experiment(new_experiment()).id)
