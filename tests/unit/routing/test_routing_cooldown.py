"""Cooldowns: retry-after kept exactly, backoff doubling with jitter, never shortened; and
the provider's own counters believed (observe)."""

from __future__ import annotations

import math
import random

import pytest

from labeller.config import RoutingSettings
from labeller.providers import RateLimitInfo
from labeller.routing import Grant, KeyLimits, Limiter, RedisBackend, Wait
from tests.support import T0, FakeClock
from tests.unit.routing.routing_support import route

KEY = route(KeyLimits("A"))


def grant(answer: Grant | Wait) -> Grant:
    assert isinstance(answer, Grant), answer
    return answer


def test_retry_after_is_respected_exactly(limiter: Limiter, clock: FakeClock) -> None:
    assert limiter.cool_down("openai", "A", 7.25) == T0 + 7.25

    assert limiter.acquire(KEY, 0) == Wait(7.25, "cooldown")
    clock.advance(7.0)
    assert limiter.acquire(KEY, 0) == Wait(0.25, "cooldown")
    clock.advance(0.25)
    grant(limiter.acquire(KEY, 0))


def test_a_shorter_cooldown_never_shortens_the_current_one(limiter: Limiter) -> None:
    assert limiter.cool_down("openai", "A", 30.0) == T0 + 30.0
    assert limiter.cool_down("openai", "A", 5.0) == T0 + 30.0
    assert limiter.cool_down("openai", "A", None) == T0 + 30.0

    assert limiter.acquire(KEY, 0) == Wait(30.0, "cooldown")
    assert limiter.cool_down("openai", "A", 45.0) == T0 + 45.0


def seeded_backoffs_ms(seed: int, n: int, base_s: float = 5.0) -> list[int]:
    """What the limiter must draw: min(60 s, base x 2^i) x a factor in (0.75, 1]."""
    rng = random.Random(seed)
    return [
        math.floor(min(60_000, base_s * 1000 * 2**i) * (1.0 - 0.25 * rng.random()))
        for i in range(n)
    ]


def test_backoff_doubles_per_consecutive_429_with_jitter_capped_at_60_s(
    limiter: Limiter, clock: FakeClock
) -> None:
    delays_ms = []
    for _ in range(6):
        deadline = limiter.cool_down("openai", "A", None)
        delay_ms = round((deadline - clock.now) * 1000)
        delays_ms.append(delay_ms)
        clock.advance(delay_ms / 1000)  # the key comes back, and gets a 429 again

    for i, delay_ms in enumerate(delays_ms):
        full_ms = min(60_000, 5_000 * 2**i)
        assert 0.75 * full_ms < delay_ms <= full_ms
    assert delays_ms == seeded_backoffs_ms(7, 6)  # the fixture's rng is Random(7)


def test_other_seeds_jitter_differently(
    backend: RedisBackend, key_prefix: str, clock: FakeClock
) -> None:
    routing = RoutingSettings(cooldown_s=5.0)
    deadlines = [
        Limiter(
            backend, f"{key_prefix}:{seed}", routing=routing, clock=clock, rng=random.Random(seed)
        ).cool_down("openai", "A", None)
        for seed in (1, 2, 3)
    ]

    assert len(set(deadlines)) == 3
    assert [round((d - T0) * 1000) for d in deadlines] == [
        seeded_backoffs_ms(seed, 1)[0] for seed in (1, 2, 3)
    ]


def test_a_burst_of_429s_while_cooling_counts_once(limiter: Limiter, clock: FakeClock) -> None:
    """Calls sent before the first 429 came back all get one: that is one episode."""
    deadlines = [limiter.cool_down("openai", "A", None) for _ in range(8)]
    assert max(deadlines) <= T0 + 5.0

    clock.advance(max(deadlines) - clock.now)
    second = limiter.cool_down("openai", "A", None)
    assert 7.5 < second - clock.now <= 10.0


def test_the_streak_is_forgotten_a_minute_after_the_cooldown(
    limiter: Limiter, clock: FakeClock
) -> None:
    for _ in range(3):
        clock.advance(limiter.cool_down("openai", "A", None) - clock.now)
    clock.advance(60.0)

    assert 3.75 < limiter.cool_down("openai", "A", None) - clock.now <= 5.0


def test_cooldowns_are_per_key(limiter: Limiter) -> None:
    limiter.cool_down("openai", "A", 10.0)

    grant(limiter.acquire(route(KeyLimits("B")), 0))
    grant(limiter.acquire(route(KeyLimits("A"), provider="other"), 0))


@pytest.mark.parametrize(
    ("info", "wait"),
    [
        (RateLimitInfo(remaining_requests=0, reset_requests_s=12.5), Wait(12.5, "cooldown")),
        (RateLimitInfo(remaining_tokens=999, reset_tokens_s=3.0), Wait(3.0, "cooldown")),
        (
            RateLimitInfo(
                remaining_requests=0, reset_requests_s=2.0, remaining_tokens=0, reset_tokens_s=9.0
            ),
            Wait(9.0, "cooldown"),
        ),
        (RateLimitInfo(remaining_requests=0), Wait(5.0, "cooldown")),  # no reset: cooldown_s
    ],
)
def test_observe_believes_a_spent_key(limiter: Limiter, info: RateLimitInfo, wait: Wait) -> None:
    limiter.observe(grant(limiter.acquire(KEY, 1_000)), info)

    assert limiter.acquire(KEY, 1_000) == wait


@pytest.mark.parametrize(
    "info",
    [
        RateLimitInfo(),
        RateLimitInfo(remaining_requests=3, reset_requests_s=50.0),
        RateLimitInfo(remaining_tokens=1_000, reset_tokens_s=50.0),
    ],
)
def test_observe_leaves_a_key_with_room_alone(limiter: Limiter, info: RateLimitInfo) -> None:
    limiter.observe(grant(limiter.acquire(KEY, 1_000)), info)

    grant(limiter.acquire(KEY, 1_000))


def test_observe_does_not_count_as_a_429(limiter: Limiter, clock: FakeClock) -> None:
    limiter.observe(
        grant(limiter.acquire(KEY, 0)), RateLimitInfo(remaining_requests=0, reset_requests_s=1.0)
    )
    clock.advance(1.0)

    assert 3.75 < limiter.cool_down("openai", "A", None) - clock.now <= 5.0
