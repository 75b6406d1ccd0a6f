"""What the limiter is asked (a route's limits) and what it answers (a grant or a wait)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from labeller.config import ProviderSettings

__all__ = ["KEYLESS_ALIAS", "Grant", "KeyLimits", "RouteLimits", "Wait", "WaitReason"]

#: The alias of the one pseudo key of a provider without keys (a local server without auth).
KEYLESS_ALIAS = "-"


@dataclass(frozen=True)
class KeyLimits:
    """One API key of a route, by alias (its env var), with its own per-minute limits."""

    alias: str
    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True)
class RouteLimits:
    """One provider (one model route): its own limits, which every one of its keys shares."""

    provider: str
    rpm: int | None
    tpm: int | None
    max_in_flight: int | None
    keys: tuple[KeyLimits, ...]

    def __post_init__(self) -> None:
        aliases = [key.alias for key in self.keys]
        if not aliases:
            raise ValueError(f"{self.provider}: a route needs at least one key")
        if len(set(aliases)) != len(aliases):
            raise ValueError(f"{self.provider}: key aliases repeat: {aliases}")

    @classmethod
    def from_settings(cls, provider: ProviderSettings) -> RouteLimits:
        """The limits of `provider`; a provider without keys gets one pseudo key, `-`."""
        keys = tuple(KeyLimits(key.env, key.rpm, key.tpm) for key in provider.key_list)
        return cls(
            provider=provider.name,
            rpm=provider.rpm,
            tpm=provider.tpm,
            max_in_flight=provider.max_in_flight,
            keys=keys or (KeyLimits(KEYLESS_ALIAS),),
        )


@dataclass(frozen=True)
class Grant:
    """A call may go out now, on `key_alias`; `tokens` are reserved until `Limiter.settle`."""

    provider: str
    key_alias: str
    #: Unique per acquire: the member of the windows and the in-flight set.
    request_id: str
    tokens: int


class WaitReason(StrEnum):
    """What blocked the earliest key; a `str`, so `Wait.reason == "rpm"` holds."""

    #: A requests-per-minute window (the key's or the provider's) is full.
    RPM = "rpm"
    #: A tokens-per-minute window has no room for the reservation.
    TPM = "tpm"
    #: The provider's concurrent calls are at `max_in_flight`.
    IN_FLIGHT = "in_flight"
    #: The key is cooling down after a 429 or a provider's "remaining 0".
    COOLDOWN = "cooldown"
    #: The provider's circuit breaker is open, or half-open with its probe out.
    BREAKER = "breaker"
    #: Every key of the route is disabled (AuthError); someone must `enable_key`.
    DISABLED = "disabled"


@dataclass(frozen=True)
class Wait:
    """No call now: the earliest any key could be granted, in seconds from now, and why."""

    seconds: float
    reason: str
