"""Fixtures of the limiter tests: a RedisBackend on the test Redis and a limiter on the fake
clock of `tests/unit/conftest.py`."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import redis

from labeller.routing import Limiter, RedisBackend
from tests.support import FakeClock
from tests.unit.routing.routing_support import ROUTING


@pytest.fixture
def backend(redis_url: str) -> Iterator[RedisBackend]:
    backend = RedisBackend.from_url(redis_url)
    yield backend
    backend.close()


@pytest.fixture
def limiter(backend: RedisBackend, key_prefix: str, clock: FakeClock) -> Limiter:
    return Limiter(backend, key_prefix, routing=ROUTING, clock=clock, rng=random.Random(7))


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
