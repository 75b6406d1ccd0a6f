"""Every Redis key the limiter writes is built here, under one prefix (cf. arq's constants).

A route's keys share the hash tag `{provider}`, so on a Redis Cluster every key one script
touches lives in one slot.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AliasKeys", "ProviderKeys", "alias_keys", "provider_keys"]


@dataclass(frozen=True)
class ProviderKeys:
    """The state of one provider, shared by all its keys."""

    #: zset: request id → grant time (ms), the provider's RPM window.
    rpm: str
    #: zset: request id → grant time (ms), the provider's TPM window.
    tpm: str
    #: hash: request id → tokens reserved (then settled) by that grant.
    tpm_tokens: str
    #: string: the sum of `tpm_tokens` over the members still in `tpm`.
    tpm_total: str
    #: zset: request id → lease expiry (ms); a dead worker's slot frees itself.
    in_flight: str
    #: hash: state, failures, until (ms), probe (request id), probe_until (ms).
    breaker: str
    #: set: aliases of the keys that must never be granted again (AuthError).
    disabled: str


@dataclass(frozen=True)
class AliasKeys:
    """The state of one API key of a provider, by alias."""

    rpm: str
    tpm: str
    tpm_tokens: str
    tpm_total: str
    #: hash: until (ms, the cooldown deadline), streak (consecutive 429s).
    cooldown: str


def _base(prefix: str, provider: str) -> str:
    return f"{prefix}:limit:{{{provider}}}"


def provider_keys(prefix: str, provider: str) -> ProviderKeys:
    base = _base(prefix, provider)
    return ProviderKeys(
        rpm=f"{base}:rpm",
        tpm=f"{base}:tpm",
        tpm_tokens=f"{base}:tpm:tokens",
        tpm_total=f"{base}:tpm:total",
        in_flight=f"{base}:in_flight",
        breaker=f"{base}:breaker",
        disabled=f"{base}:disabled",
    )


def alias_keys(prefix: str, provider: str, alias: str) -> AliasKeys:
    base = f"{_base(prefix, provider)}:key:{alias}"
    return AliasKeys(
        rpm=f"{base}:rpm",
        tpm=f"{base}:tpm",
        tpm_tokens=f"{base}:tpm:tokens",
        tpm_total=f"{base}:tpm:total",
        cooldown=f"{base}:cooldown",
    )
