"""What the limiter needs of a shared store: atomic primitives with units (cf. dramatiq's).

Each method is one atomic decision in one round trip. `now_ms` (epoch ms) is None in
production, where the store's own clock decides (one clock for every node); tests pass a fake
clock's reading. Every method raises LimiterUnavailable when the store cannot be reached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from labeller.routing.keys import AliasKeys, ProviderKeys
from labeller.routing.limits import RouteLimits

__all__ = ["AliasState", "Decision", "LimiterBackend", "ProviderState"]


@dataclass(frozen=True)
class Decision:
    """What one reserve decided: the granted key (index into `route.keys`) or a wait."""

    key_index: int | None
    #: 0 when granted; else ms until the earliest key could be granted (at least 1).
    wait_ms: int
    #: A WaitReason value when waiting; "" when granted.
    reason: str


@dataclass(frozen=True)
class AliasState:
    rpm_used: int
    tpm_used: int
    #: The cooldown deadline (epoch ms) if the key is cooling down now.
    cooldown_until_ms: int | None
    disabled: bool


@dataclass(frozen=True)
class ProviderState:
    #: The store's clock when it was read (epoch ms).
    now_ms: int
    rpm_used: int
    tpm_used: int
    in_flight: int
    #: A BreakerState value.
    breaker: str
    breaker_failures: int
    #: When an open breaker lets a probe through (epoch ms); None unless open.
    breaker_until_ms: int | None
    #: In the order of `route.keys`.
    keys: tuple[AliasState, ...]


class LimiterBackend(Protocol):
    def reserve(
        self,
        provider: ProviderKeys,
        aliases: Sequence[AliasKeys],
        route: RouteLimits,
        *,
        request_id: str,
        tokens: int,
        window_ms: int,
        lease_ms: int,
        retry_ms: int,
        now_ms: int | None,
    ) -> Decision:
        """Check every limit of `route` and, if a key has room, count the call on it.

        `aliases[i]` holds the state of `route.keys[i]`. A grant adds `request_id` to the RPM
        and TPM windows (`window_ms` long) of the key and the provider, reserves `tokens` in
        both, and holds an in-flight slot for `lease_ms`. `retry_ms` is the wait offered when
        only a settle or a probe's outcome can free the way (its time is unknown).
        """
        ...

    def settle(
        self,
        provider: ProviderKeys,
        alias: AliasKeys,
        *,
        request_id: str,
        used_tokens: int,
        window_ms: int,
        probe_grace_ms: int,
        now_ms: int | None,
    ) -> bool:
        """Set the grant's tokens to `used_tokens` in both TPM windows; free its slot.

        If the grant is the half-open probe, its claim ends `probe_grace_ms` from now, so its
        outcome may be recorded just before or after. Idempotent. True if the in-flight slot
        was still held (its lease had not run out).
        """
        ...

    def cool_down(
        self,
        alias: AliasKeys,
        *,
        exact_ms: int | None,
        base_ms: int,
        cap_ms: int,
        jitter: float,
        is_429: bool,
        memory_ms: int,
        now_ms: int | None,
    ) -> int:
        """Keep the key from being granted until a deadline; return it (epoch ms).

        `exact_ms` from now if given, else a backoff of `base_ms` doubled per consecutive 429
        (`is_429` counts one, unless the key is already cooling), capped at `cap_ms`, times
        `jitter` (0 < jitter <= 1). A deadline earlier than the current one leaves it alone.
        The 429 streak is forgotten `memory_ms` after the deadline.
        """
        ...

    def record(
        self,
        provider: ProviderKeys,
        *,
        success: bool,
        threshold: int,
        open_ms: int,
        now_ms: int | None,
    ) -> str:
        """Count one call's outcome in the provider's breaker; return its new BreakerState.

        `threshold` consecutive failures open it for `open_ms`; a failure while half-open
        re-opens it; a success while closed or half-open closes it.
        """
        ...

    def disable(self, provider: ProviderKeys, alias: str) -> bool:
        """Never grant `alias` again; True only for the call that disabled it."""
        ...

    def enable(self, provider: ProviderKeys, alias: str) -> None:
        """Undo `disable`."""
        ...

    def read(
        self,
        provider: ProviderKeys,
        aliases: Sequence[AliasKeys],
        route: RouteLimits,
        *,
        window_ms: int,
        now_ms: int | None,
    ) -> ProviderState:
        """Usage in the current windows, cooldowns, breaker and disabled keys; writes nothing."""
        ...
