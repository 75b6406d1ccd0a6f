"""Route limits from settings, and the snapshot that status pages and metrics read."""

from __future__ import annotations

from typing import Any

import pytest

from labeller.config import KeySettings, ProviderSettings
from labeller.routing import Grant, KeyLimits, Limiter, RouteLimits, Wait
from tests.support import T0, FakeClock
from tests.unit.routing.routing_support import route


def provider(**changes: Any) -> ProviderSettings:
    return ProviderSettings(name="openai", model="gpt-4o-mini", **changes)


def test_from_settings_takes_every_key_and_limit() -> None:
    settings = provider(
        rpm=500,
        tpm=90_000,
        max_in_flight=20,
        keys=[KeySettings(env="KEY_A", rpm=100), KeySettings(env="KEY_B", tpm=40_000)],
    )

    assert RouteLimits.from_settings(settings) == RouteLimits(
        "openai", 500, 90_000, 20, (KeyLimits("KEY_A", 100, None), KeyLimits("KEY_B", None, 40_000))
    )


def test_from_settings_one_key_by_its_env_var() -> None:
    limits = RouteLimits.from_settings(provider(rpm=60))

    assert limits.keys == (KeyLimits("OPENAI_API_KEY"),)
    assert (limits.rpm, limits.tpm, limits.max_in_flight) == (60, None, None)


def test_a_keyless_provider_gets_one_pseudo_key() -> None:
    assert RouteLimits.from_settings(provider(api_key_env=None)).keys == (KeyLimits("-"),)


@pytest.mark.parametrize("keys", [(), (KeyLimits("A"), KeyLimits("A"))])
def test_a_route_needs_distinct_keys(keys: tuple[KeyLimits, ...]) -> None:
    with pytest.raises(ValueError, match="openai"):
        RouteLimits("openai", None, None, None, keys)


def test_snapshot_shows_usage_cooldowns_breaker_and_disabled_keys(
    limiter: Limiter, clock: FakeClock
) -> None:
    limits = route(
        KeyLimits("A", rpm=10),
        KeyLimits("B", tpm=5_000),
        KeyLimits("C"),
        rpm=100,
        tpm=20_000,
        max_in_flight=5,
    )
    first = limiter.acquire(limits, 1_000)
    second = limiter.acquire(limits, 1_000)
    assert isinstance(first, Grant) and isinstance(second, Grant)
    limiter.settle(first, 400)
    limiter.cool_down("openai", second.key_alias, 12.0)
    limiter.disable_key("openai", "C")
    limiter.record_failure("openai")
    clock.advance(1.0)

    snapshot = limiter.snapshot(limits)

    assert snapshot["now"] == T0 + 1.0
    assert (snapshot["rpm_used"], snapshot["tpm_used"], snapshot["in_flight"]) == (2, 1_400, 1)
    assert snapshot["breaker"] == {"state": "closed", "failures": 1, "open_until": None}
    assert snapshot["disabled_keys"] == ["C"]
    keys = snapshot["keys"]
    assert isinstance(keys, dict)
    assert keys[first.key_alias]["tpm_used"] == 400
    assert keys[second.key_alias]["cooldown_until"] == T0 + 12.0
    assert keys[first.key_alias]["cooldown_until"] is None
    assert keys["C"] == {
        "rpm_used": 0,
        "rpm_limit": None,
        "tpm_used": 0,
        "tpm_limit": None,
        "cooldown_until": None,
        "disabled": True,
    }


def test_snapshot_forgets_what_left_the_window(limiter: Limiter, clock: FakeClock) -> None:
    limits = route(rpm=10, tpm=10_000)
    limiter.acquire(limits, 700)
    clock.advance(60.0)

    snapshot = limiter.snapshot(limits)

    assert (snapshot["rpm_used"], snapshot["tpm_used"]) == (0, 0)
    assert isinstance(limiter.acquire(limits, 10_000), Grant)
    assert isinstance(limiter.acquire(limits, 1), Wait)


def test_snapshot_shows_an_open_breaker(limiter: Limiter) -> None:
    for _ in range(3):
        limiter.record_failure("openai")

    breaker = limiter.snapshot(route())["breaker"]

    assert breaker == {"state": "open", "failures": 0, "open_until": T0 + 30.0}
