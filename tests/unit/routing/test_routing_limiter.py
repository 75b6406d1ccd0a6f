"""Limiter over real Redis: exact sliding windows, keys by headroom, earliest waits, leases."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest
import redis

from labeller.errors import LimiterUnavailable
from labeller.routing import Grant, KeyLimits, Limiter, RedisBackend, RouteLimits, Wait
from tests.support import T0, FakeClock
from tests.unit.routing.routing_support import closed_port, route

ONE = route(rpm=3)


def grant(answer: Grant | Wait) -> Grant:
    assert isinstance(answer, Grant), answer
    return answer


def aliases(limiter: Limiter, limits: RouteLimits, n: int) -> list[str]:
    return [grant(limiter.acquire(limits, 0)).key_alias for _ in range(n)]


def test_grants_up_to_rpm_then_waits_for_the_oldest_to_leave(limiter: Limiter) -> None:
    answers = [limiter.acquire(ONE, 0) for _ in range(3)]

    assert all(isinstance(answer, Grant) for answer in answers)
    assert limiter.acquire(ONE, 0) == Wait(60.0, "rpm")


def test_a_grant_says_where_and_what(limiter: Limiter) -> None:
    first, second = grant(limiter.acquire(ONE, 120)), grant(limiter.acquire(ONE, 80))

    assert (first.provider, first.key_alias, first.tokens) == ("openai", "-", 120)
    assert second.tokens == 80
    assert first.request_id != second.request_id


def test_a_refusal_takes_no_slot(limiter: Limiter, clock: FakeClock) -> None:
    for _ in range(3):
        limiter.acquire(ONE, 0)
    clock.advance(15.5)

    assert [limiter.acquire(ONE, 0) for _ in range(3)] == [Wait(44.5, "rpm")] * 3


def test_the_window_slides_freeing_grants_one_by_one(limiter: Limiter, clock: FakeClock) -> None:
    grant(limiter.acquire(ONE, 0))  # t = 0 s
    clock.advance(10.0)
    grant(limiter.acquire(ONE, 0))  # t = 10 s
    clock.advance(10.0)
    grant(limiter.acquire(ONE, 0))  # t = 20 s

    assert limiter.acquire(ONE, 0) == Wait(40.0, "rpm")  # until the 0 s grant leaves
    clock.advance(39.75)
    assert limiter.acquire(ONE, 0) == Wait(0.25, "rpm")  # exact to the ms
    clock.advance(0.25)  # t = 60 s
    grant(limiter.acquire(ONE, 0))
    assert limiter.acquire(ONE, 0) == Wait(10.0, "rpm")  # until the 10 s grant leaves
    clock.advance(10.0)  # t = 70 s
    grant(limiter.acquire(ONE, 0))
    assert limiter.acquire(ONE, 0) == Wait(10.0, "rpm")  # the 20 s grant
    clock.advance(10.0)  # t = 80 s
    grant(limiter.acquire(ONE, 0))
    assert limiter.acquire(ONE, 0) == Wait(40.0, "rpm")  # now the 60 s grant is the oldest


def test_no_sixty_second_span_ever_holds_more_than_the_limit(
    limiter: Limiter, clock: FakeClock
) -> None:
    """Acquire every 0.25 s for 3 simulated minutes; count grants in every 60 s span."""
    limits = route(rpm=7)
    granted_ms: list[int] = []
    for step in range(720):
        if isinstance(limiter.acquire(limits, 0), Grant):
            granted_ms.append(step * 250)
        clock.advance(0.25)

    assert len(granted_ms) == 7 * 3
    for first in granted_ms:
        assert sum(first <= t < first + 60_000 for t in granted_ms) <= 7


def test_a_provider_limit_binds_across_keys(limiter: Limiter) -> None:
    limits = route(KeyLimits("A", rpm=2), KeyLimits("B", rpm=2), rpm=3)

    assert sorted(aliases(limiter, limits, 3)) == ["A", "A", "B"]
    assert limiter.acquire(limits, 0) == Wait(60.0, "rpm")


def test_a_key_limit_binds_below_the_provider(limiter: Limiter) -> None:
    limits = route(KeyLimits("A", rpm=1, tpm=500), rpm=10, tpm=10_000)

    grant(limiter.acquire(limits, 100))
    assert limiter.acquire(limits, 100) == Wait(60.0, "rpm")
    assert limiter.acquire(route(KeyLimits("A", tpm=500), tpm=10_000), 450) == Wait(60.0, "tpm")


def test_the_key_with_most_headroom_is_chosen(limiter: Limiter) -> None:
    """A has 4 rpm, B 10: each grant goes where the free fraction is largest (tie: A)."""
    limits = route(KeyLimits("A", rpm=4), KeyLimits("B", rpm=10))

    # free fractions before each grant: A 1 = B 1; B 1; B .9; B .8 > A .75; A .75 > B .7; ...
    assert aliases(limiter, limits, 7) == ["A", "B", "B", "B", "A", "B", "B"]


def test_headroom_counts_tokens_too(limiter: Limiter) -> None:
    limits = route(KeyLimits("A", tpm=10_000), KeyLimits("B", tpm=10_000))
    grant(limiter.acquire(limits, 6_000))  # A (the tie goes to the first key)

    assert [grant(limiter.acquire(limits, 100)).key_alias for _ in range(3)] == ["B"] * 3


def test_keys_without_limits_take_turns(limiter: Limiter) -> None:
    limits = route(KeyLimits("A"), KeyLimits("B"), KeyLimits("C"), rpm=100)

    assert aliases(limiter, limits, 6) == ["A", "B", "C", "A", "B", "C"]


def test_disabled_keys_are_skipped_and_disabling_alerts_once(limiter: Limiter) -> None:
    limits = route(KeyLimits("A"), KeyLimits("B"))

    assert limiter.disable_key("openai", "A") is True
    assert limiter.disable_key("openai", "A") is False
    assert set(aliases(limiter, limits, 4)) == {"B"}

    limiter.enable_key("openai", "A")
    assert "A" in aliases(limiter, limits, 2)


def test_when_every_key_is_disabled_the_route_waits(limiter: Limiter) -> None:
    limiter.disable_key("openai", "A")

    assert limiter.acquire(route(KeyLimits("A")), 0) == Wait(60.0, "disabled")


def test_cooling_keys_are_skipped(limiter: Limiter) -> None:
    limits = route(KeyLimits("A"), KeyLimits("B"))
    limiter.cool_down("openai", "A", 10.0)

    assert set(aliases(limiter, limits, 4)) == {"B"}


def test_the_wait_is_the_earliest_any_key_frees(limiter: Limiter, clock: FakeClock) -> None:
    limits = route(KeyLimits("A", rpm=1), KeyLimits("B", rpm=1))
    assert grant(limiter.acquire(limits, 0)).key_alias == "A"  # t = 0: A frees at 60 s
    clock.advance(20.0)
    assert grant(limiter.acquire(limits, 0)).key_alias == "B"  # t = 20: B frees at 80 s

    assert limiter.acquire(limits, 0) == Wait(40.0, "rpm")

    limiter.cool_down("openai", "A", 50.0)  # A now blocked until 70 s, B until 80 s
    assert limiter.acquire(limits, 0) == Wait(50.0, "cooldown")
    limiter.cool_down("openai", "B", 5.0)  # B's window still binds: its own max is 60 s
    assert limiter.acquire(limits, 0) == Wait(50.0, "cooldown")


def test_a_full_provider_outlasts_free_keys(limiter: Limiter, clock: FakeClock) -> None:
    limits = route(KeyLimits("A"), KeyLimits("B", rpm=1), rpm=2)
    aliases(limiter, limits, 2)
    clock.advance(30.0)

    assert limiter.acquire(limits, 0) == Wait(30.0, "rpm")


def test_a_dead_workers_slot_frees_itself_after_the_lease(
    backend: RedisBackend, key_prefix: str, clock: FakeClock
) -> None:
    limiter = Limiter(backend, key_prefix, clock=clock, lease_s=30.0)
    limits = route(max_in_flight=2)
    grant(limiter.acquire(limits, 0))
    grant(limiter.acquire(limits, 0))  # both workers die without settling

    assert limiter.acquire(limits, 0) == Wait(0.5, "in_flight")  # nobody knows when: poll
    clock.advance(29.75)
    assert limiter.acquire(limits, 0) == Wait(0.25, "in_flight")  # but never past the lease
    clock.advance(0.25)
    grant(limiter.acquire(limits, 0))


def test_settle_frees_the_in_flight_slot(limiter: Limiter) -> None:
    limits = route(max_in_flight=1)
    first = grant(limiter.acquire(limits, 0))
    assert limiter.acquire(limits, 0) == Wait(0.5, "in_flight")

    limiter.settle(first, 0)

    grant(limiter.acquire(limits, 0))


def test_state_lives_under_the_prefix_and_expires(
    limiter: Limiter, client: redis.Redis, key_prefix: str
) -> None:
    limits = route(KeyLimits("A"), rpm=5, tpm=1_000, max_in_flight=3)
    limiter.settle(grant(limiter.acquire(limits, 100)), 50)
    grant(limiter.acquire(limits, 100))
    limiter.cool_down("openai", "A", 1.0)

    keys = list(client.scan_iter(match=f"{key_prefix}*", count=1000))
    assert len(keys) >= 10
    for key in keys:
        assert key.decode().startswith(f"{key_prefix}:limit:{{openai}}:")
        assert 0 < client.pttl(key) <= 660_000


def test_without_a_clock_redis_time_decides(
    backend: RedisBackend, key_prefix: str, client: redis.Redis
) -> None:
    limiter = Limiter(backend, key_prefix)
    one = route(rpm=1)
    grant(limiter.acquire(one, 0))

    wait = limiter.acquire(one, 0)

    assert isinstance(wait, Wait) and 59.0 < wait.seconds <= 60.0
    (key,) = client.scan_iter(match=f"{key_prefix}:limit:{{openai}}:rpm")
    entries = cast(list[tuple[bytes, float]], client.zrange(key, 0, -1, withscores=True))
    ((_, granted_ms),) = entries
    seconds, micros = client.time()
    assert abs(granted_ms - (seconds * 1000 + micros // 1000)) < 5_000
    assert T0 * 1000 < granted_ms


def test_prefixes_are_limited_separately(
    backend: RedisBackend, key_prefix: str, clock: FakeClock
) -> None:
    first = Limiter(backend, key_prefix, clock=clock)
    second = Limiter(backend, f"{key_prefix}-other", clock=clock)
    grant(first.acquire(route(rpm=1), 0))

    assert isinstance(first.acquire(route(rpm=1), 0), Wait)
    grant(second.acquire(route(rpm=1), 0))


def test_negative_tokens_are_a_bug(limiter: Limiter) -> None:
    with pytest.raises(ValueError, match="tokens"):
        limiter.acquire(ONE, -1)


@pytest.mark.parametrize("call", ["acquire", "settle", "cool_down", "breaker", "disable"])
def test_unreachable_redis_raises_limiter_unavailable_without_the_password(
    key_prefix: str, clock: FakeClock, call: str
) -> None:
    password = "s3cret-redis-pass"
    backend = RedisBackend.from_url(f"redis://:{password}@127.0.0.1:{closed_port()}/0")
    limiter = Limiter(backend, key_prefix, clock=clock)
    some = Grant("openai", "-", "r1", 10)
    actions: dict[str, Callable[[], object]] = {
        "acquire": lambda: limiter.acquire(ONE, 10),
        "settle": lambda: limiter.settle(some, 5),
        "cool_down": lambda: limiter.cool_down("openai", "-", None),
        "breaker": lambda: limiter.record_failure("openai"),
        "disable": lambda: limiter.disable_key("openai", "-"),
    }
    try:
        with pytest.raises(LimiterUnavailable) as caught:
            actions[call]()
    finally:
        backend.close()

    assert password not in str(caught.value)
    assert password not in repr(caught.value)
    assert isinstance(caught.value.__cause__, redis.RedisError)
