"""Random draws of one request: its latency and which failure, if any, it gets.

Every request draws exactly two numbers in a fixed order (latency, then fate), so a seed
replays a whole run whatever the profiles say.
"""

from __future__ import annotations

import math
import random
from enum import StrEnum
from statistics import NormalDist

from labeller.simulator.config import Latency, ModelProfile

__all__ = ["Fate", "draw", "sample_latency_ms"]

_STANDARD_NORMAL = NormalDist()


class Fate(StrEnum):
    """What happens to a request that passed auth and validation, before the windows."""

    #: A caption, if the windows admit it.
    answer = "answer"
    #: A 429 whatever the windows hold; not counted in them.
    rate_limited = "rate_limited"
    #: 529 (Anthropic) or 503; not counted in the windows.
    overloaded = "overloaded"
    #: A 500 after the latency; counted in the windows (prompt tokens only).
    fault = "fault"
    #: Hang `timeout_s` after the latency, then answer.
    timeout = "timeout"
    #: A 200 with a truncated JSON body.
    malformed = "malformed"


def sample_latency_ms(profile: ModelProfile, rng: random.Random) -> float:
    """One latency in ms from the profile's distribution; draws one number from `rng`."""
    mean = profile.latency_ms
    u = rng.random()
    if profile.latency is Latency.fixed:
        return mean
    if profile.latency is Latency.uniform:
        jitter = profile.latency_jitter_ms
        return max(0.0, mean - jitter + 2 * jitter * u)
    if mean <= 0.0:
        return 0.0
    # ln(latency) ~ N(mu, sigma²) has mean exp(mu + sigma²/2): pick mu so that mean is latency_ms.
    sigma = profile.latency_sigma
    mu = math.log(mean) - sigma * sigma / 2
    return math.exp(mu + sigma * _normal_quantile(u))


def draw(profile: ModelProfile, rng: random.Random) -> tuple[float, Fate]:
    """Latency in ms and the request's fate, from two numbers of `rng`."""
    latency_ms = sample_latency_ms(profile, rng)
    u = rng.random()
    for fate, rate in (
        (Fate.rate_limited, profile.rate_limit_rate),
        (Fate.overloaded, profile.overload_rate),
        (Fate.fault, profile.fault_rate),
        (Fate.timeout, profile.timeout_rate),
        (Fate.malformed, profile.malformed_rate),
    ):
        if u < rate:
            return latency_ms, fate
        u -= rate
    return latency_ms, Fate.answer


def _normal_quantile(u: float) -> float:
    """Standard normal quantile of u in [0, 1): one uniform number per draw, even lognormal."""
    return _STANDARD_NORMAL.inv_cdf(min(max(u, 1e-12), 1 - 1e-12))
