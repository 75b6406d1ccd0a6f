"""Latency sampling and fate draws: deterministic for a seed, distributed as the profile says."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from labeller.simulator import Latency, ModelProfile
from labeller.simulator._chance import Fate, draw, sample_latency_ms


def samples(profile: ModelProfile, n: int = 4000, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [sample_latency_ms(profile, rng) for _ in range(n)]


def test_fixed_is_the_mean() -> None:
    profile = ModelProfile(latency=Latency.fixed, latency_ms=120.0, latency_jitter_ms=50.0)

    assert set(samples(profile, n=50)) == {120.0}


def test_uniform_spans_mean_plus_minus_jitter() -> None:
    profile = ModelProfile(latency_ms=100.0, latency_jitter_ms=40.0)

    drawn = samples(profile)

    assert 60.0 <= min(drawn) < 62.0
    assert 138.0 < max(drawn) <= 140.0
    assert statistics.fmean(drawn) == pytest.approx(100.0, abs=2.0)


def test_uniform_is_clamped_at_zero() -> None:
    assert min(samples(ModelProfile(latency_ms=10.0, latency_jitter_ms=40.0))) == 0.0


def test_lognormal_has_the_mean_and_the_sigma() -> None:
    profile = ModelProfile(latency=Latency.lognormal, latency_ms=200.0, latency_sigma=0.5)

    drawn = samples(profile, n=20000)

    assert statistics.fmean(drawn) == pytest.approx(200.0, rel=0.03)
    logs = [math.log(x) for x in drawn]
    assert statistics.stdev(logs) == pytest.approx(0.5, rel=0.03)
    assert statistics.median(drawn) < statistics.fmean(drawn)


@pytest.mark.parametrize("latency", list(Latency))
def test_a_seed_replays_the_samples(latency: Latency) -> None:
    profile = ModelProfile(latency=latency, latency_ms=80.0)

    assert samples(profile, n=20, seed=3) == samples(profile, n=20, seed=3)


def test_the_seeded_sequence_is_pinned() -> None:
    profile = ModelProfile(latency=Latency.lognormal, latency_ms=100.0, latency_sigma=0.5)
    rng = random.Random(42)
    expected = []
    check = random.Random(42)
    for _ in range(3):
        u = check.random()
        mu = math.log(100.0) - 0.125
        expected.append(math.exp(mu + 0.5 * statistics.NormalDist().inv_cdf(u)))
        check.random()

    assert [draw(profile, rng)[0] for _ in range(3)] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("field", "fate"),
    [
        ("rate_limit_rate", Fate.rate_limited),
        ("overload_rate", Fate.overloaded),
        ("fault_rate", Fate.fault),
        ("timeout_rate", Fate.timeout),
        ("malformed_rate", Fate.malformed),
    ],
)
def test_rate_one_always_draws_that_fate(field: str, fate: Fate) -> None:
    rng = random.Random(0)
    profile = ModelProfile.model_validate({field: 1.0})

    assert {draw(profile, rng)[1] for _ in range(100)} == {fate}


def test_rates_share_one_number() -> None:
    rng = random.Random(5)
    profile = ModelProfile(fault_rate=0.25, overload_rate=0.25)

    fates = [draw(profile, rng)[1] for _ in range(8000)]

    assert fates.count(Fate.fault) / 8000 == pytest.approx(0.25, abs=0.02)
    assert fates.count(Fate.overloaded) / 8000 == pytest.approx(0.25, abs=0.02)
    assert fates.count(Fate.answer) / 8000 == pytest.approx(0.5, abs=0.02)
