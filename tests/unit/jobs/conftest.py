"""A RedisBackend on the test Redis (the database, clock and store come from tests/unit)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labeller.routing import RedisBackend


@pytest.fixture
def backend(redis_url: str) -> Iterator[RedisBackend]:
    backend = RedisBackend.from_url(redis_url)
    yield backend
    backend.close()
