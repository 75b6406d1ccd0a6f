"""Limiter over real Redis: exact sliding-window counts from a fake clock, atomic under threads."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import cast

import pytest
import redis

from labeller.errors import LimiterUnavailable
from labeller.routing import Limiter, RedisBackend
from tests.support import FakeClock


@pytest.fixture
def backend(redis_url: str) -> Iterator[RedisBackend]:
    backend = RedisBackend.from_url(redis_url)
    yield backend
    backend.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(backend: RedisBackend, key_prefix: str, clock: FakeClock) -> Limiter:
    return Limiter(backend, key_prefix, clock=clock)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def our_keys(client: redis.Redis, key_prefix: str) -> list[bytes]:
    return list(client.scan_iter(match=f"{key_prefix}*", count=1000))


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_grants_up_to_rpm_then_waits_for_the_oldest_to_leave(limiter: Limiter) -> None:
    assert [limiter.acquire("openai", 5) for _ in range(5)] == [0.0] * 5

    assert limiter.acquire("openai", 5) == 60.0


def test_a_refusal_takes_no_slot(limiter: Limiter, clock: FakeClock) -> None:
    for _ in range(5):
        limiter.acquire("openai", 5)
    clock.advance(15.5)

    waits = [limiter.acquire("openai", 5) for _ in range(3)]

    assert waits == [44.5] * 3


def test_the_wait_is_exact_to_the_ms(limiter: Limiter, clock: FakeClock) -> None:
    for _ in range(5):
        limiter.acquire("openai", 5)

    clock.advance(59.75)
    assert limiter.acquire("openai", 5) == 0.25
    clock.advance(0.25)
    assert limiter.acquire("openai", 5) == 0.0


def test_after_the_window_grants_again(limiter: Limiter, clock: FakeClock) -> None:
    for _ in range(5):
        limiter.acquire("openai", 5)
    assert limiter.acquire("openai", 5) > 0

    clock.advance(60.0)

    assert [limiter.acquire("openai", 5) for _ in range(5)] == [0.0] * 5
    assert limiter.acquire("openai", 5) == 60.0


def test_the_window_slides_freeing_grants_one_by_one(limiter: Limiter, clock: FakeClock) -> None:
    assert limiter.acquire("openai", 3) == 0.0  # t = 0 s
    clock.advance(10.0)
    assert limiter.acquire("openai", 3) == 0.0  # t = 10 s
    clock.advance(10.0)
    assert limiter.acquire("openai", 3) == 0.0  # t = 20 s

    assert limiter.acquire("openai", 3) == 40.0  # until the 0 s grant leaves
    clock.advance(40.0)  # t = 60 s
    assert limiter.acquire("openai", 3) == 0.0
    assert limiter.acquire("openai", 3) == 10.0  # until the 10 s grant leaves
    clock.advance(10.0)  # t = 70 s
    assert limiter.acquire("openai", 3) == 0.0
    assert limiter.acquire("openai", 3) == 10.0  # the 20 s grant
    clock.advance(10.0)  # t = 80 s
    assert limiter.acquire("openai", 3) == 0.0
    assert limiter.acquire("openai", 3) == 40.0  # now the 60 s grant is the oldest


def test_providers_are_limited_separately(limiter: Limiter) -> None:
    for _ in range(2):
        limiter.acquire("a", 2)
    assert limiter.acquire("a", 2) > 0

    assert [limiter.acquire("b", 2) for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("b", 2) > 0


def test_prefixes_are_limited_separately(
    backend: RedisBackend, key_prefix: str, clock: FakeClock
) -> None:
    first = Limiter(backend, key_prefix, clock=clock)
    second = Limiter(backend, f"{key_prefix}-other", clock=clock)
    first.acquire("openai", 1)

    assert first.acquire("openai", 1) > 0
    assert second.acquire("openai", 1) == 0.0


def test_state_lives_under_the_prefix_and_expires(
    limiter: Limiter, client: redis.Redis, key_prefix: str
) -> None:
    limiter.acquire("openai", 5)

    (key,) = our_keys(client, key_prefix)
    assert key.decode().startswith(f"{key_prefix}:")
    assert b"openai" in key
    assert 0 < client.pttl(key) <= 120_000


def test_no_rpm_is_unlimited_and_writes_nothing(
    limiter: Limiter, client: redis.Redis, key_prefix: str
) -> None:
    assert [limiter.acquire("local", None) for _ in range(100)] == [0.0] * 100

    assert our_keys(client, key_prefix) == []


def test_no_rpm_does_not_touch_redis_at_all(key_prefix: str) -> None:
    backend = RedisBackend.from_url(f"redis://127.0.0.1:{closed_port()}/0")
    try:
        assert Limiter(backend, key_prefix).acquire("local", None) == 0.0
    finally:
        backend.close()


def test_without_a_clock_redis_time_decides(
    backend: RedisBackend, key_prefix: str, client: redis.Redis
) -> None:
    limiter = Limiter(backend, key_prefix)
    assert limiter.acquire("openai", 1) == 0.0

    wait_s = limiter.acquire("openai", 1)

    assert 59.0 < wait_s <= 60.0
    (key,) = our_keys(client, key_prefix)
    entries = cast(list[tuple[bytes, float]], client.zrange(key, 0, -1, withscores=True))
    ((_, granted_ms),) = entries
    seconds, micros = client.time()
    assert abs(granted_ms - (seconds * 1000 + micros // 1000)) < 5_000


def test_grants_are_atomic_across_threads(limiter: Limiter) -> None:
    """8 threads x 20 acquires against rpm=50 with the clock frozen: exactly 50 grants."""
    threads_n, each = 8, 20
    start = threading.Barrier(threads_n)
    results: list[list[float]] = [[] for _ in range(threads_n)]
    errors: list[Exception] = []

    def worker(slot: int) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(each):
                results[slot].append(limiter.acquire("openai", 50))
        except Exception as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    waits = [wait for result in results for wait in result]
    assert len(waits) == threads_n * each
    assert waits.count(0.0) == 50
    assert set(waits) == {0.0, 60.0}


def test_unreachable_redis_raises_limiter_unavailable_without_the_password(
    key_prefix: str, clock: FakeClock
) -> None:
    password = "s3cret-redis-pass"
    backend = RedisBackend.from_url(f"redis://:{password}@127.0.0.1:{closed_port()}/0")
    limiter = Limiter(backend, key_prefix, clock=clock)
    try:
        with pytest.raises(LimiterUnavailable) as caught:
            limiter.acquire("openai", 5)
    finally:
        backend.close()

    assert password not in str(caught.value)
    assert password not in repr(caught.value)
    assert isinstance(caught.value.__cause__, redis.RedisError)
