"""How frames are routed around trouble and reuse: breaker, cooldowns, waits, cache, budget."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CacheSettings", "RoutingSettings"]


class RoutingSettings(BaseModel):
    """Reactions to a provider's trouble, shared by every worker through Redis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Consecutive 5xx, overloads or timeouts that open a provider's circuit breaker.
    breaker_failures: int = Field(default=5, ge=1)
    #: Seconds the breaker stays open before one half-open probe may try the provider.
    breaker_open_s: float = Field(default=30.0, gt=0.0)
    #: Cooldown of a key after a 429 that gave no retry-after, in seconds (then doubled, capped
    #: at 60 s, with jitter).
    cooldown_s: float = Field(default=5.0, gt=0.0)
    #: Waits for a rate-limit slot adding up to this long (s) happen in the task; longer ones
    #: send the frame back to the database until the slot is due (the feeder publishes it).
    inline_wait_s: float = Field(default=2.0, ge=0.0)
    #: Seconds added to our 60 s RPM/TPM windows, so a call whose network hop is shorter than
    #: the previous one's cannot land inside the provider's window of that call.
    edge_guard_s: float = Field(default=1.0, ge=0.0, le=10.0)
    #: Tokens a call is charged before its response says how many it used (image tokens are
    #: added from the provider's rules), in tokens of output.
    output_tokens_estimate: int = Field(default=60, ge=0)


class CacheSettings(BaseModel):
    """Captions reused instead of paid for again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Reuse a caption for a byte-identical image with the same prompt and model.
    exact: bool = True
    #: Reuse a caption within a job for a frame whose perceptual hash is this close (bits of
    #: 64); None turns near-duplicate reuse off.
    near_duplicate_bits: int | None = Field(default=3, ge=0, le=16)
    #: ...and whose 32 x 24 grayscale thumbnail differs by at most this many grey levels in
    #: every cell (the hash alone cannot tell a shape that moved a few pixels).
    near_duplicate_max_gray: int = Field(default=6, ge=0, le=255)
