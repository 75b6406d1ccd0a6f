"""How long a key cools down: the backoff after a 429, and what a provider's headers imply.

The deadline itself lives in Redis (`lua/cooldown.lua`), so every worker skips the key.
"""

from __future__ import annotations

import random

from labeller.providers import RateLimitInfo

__all__ = ["BACKOFF_CAP_S", "JITTER", "STREAK_MEMORY_S", "jitter_factor", "observed_cooldown_s"]

#: The longest computed backoff, in s; a provider's explicit retry-after may be longer.
BACKOFF_CAP_S = 60.0
#: Each backoff is spread over (1 - JITTER, 1] of its doubled value, so the keys one burst
#: cooled do not all come back in the same ms, and the cap is never exceeded.
JITTER = 0.25
#: A key's 429 streak is forgotten this long (s) after its cooldown ends without a new 429.
STREAK_MEMORY_S = 60.0


def jitter_factor(rng: random.Random) -> float:
    """A factor in (1 - JITTER, 1] for one backoff."""
    return 1.0 - JITTER * rng.random()


def observed_cooldown_s(info: RateLimitInfo, tokens: int, fallback_s: float) -> float | None:
    """Seconds the provider's own counters say the key is spent for; None if it has room.

    No requests left, or fewer tokens left than `tokens` (a typical call's reservation), cools
    the key until the reset the provider gave, or `fallback_s` if it gave none.
    """
    waits: list[float] = []
    if info.remaining_requests is not None and info.remaining_requests <= 0:
        waits.append(fallback_s if info.reset_requests_s is None else info.reset_requests_s)
    if info.remaining_tokens is not None and info.remaining_tokens < tokens:
        waits.append(fallback_s if info.reset_tokens_s is None else info.reset_tokens_s)
    return max(waits) if waits else None
