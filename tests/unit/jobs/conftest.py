"""A migrated database, a fake clock and a `Store` over them; a RedisBackend on the test Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from labeller.routing import RedisBackend
from labeller.store import Store, make_engine, upgrade
from tests.support import FakeClock


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(engine: Engine, clock: FakeClock) -> Store:
    return Store(engine, clock=clock)


@pytest.fixture
def backend(redis_url: str) -> Iterator[RedisBackend]:
    backend = RedisBackend.from_url(redis_url)
    yield backend
    backend.close()
