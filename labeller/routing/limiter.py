"""The global limiter every worker on every node shares: RPM, TPM, concurrency, cooldowns,
disabled keys and the circuit breaker of each provider, one atomic script per decision.

Invariant: no window of `WINDOW_MS` ever holds more grants (or reserved tokens) than a limit
of the key or of the provider allows, whatever the number of workers, because the check and
the count happen in one script (`lua/acquire.lua`), one round trip per acquire.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable

from labeller.config import RoutingSettings
from labeller.providers import RateLimitInfo
from labeller.routing.backend import LimiterBackend
from labeller.routing.cooldown import (
    BACKOFF_CAP_S,
    STREAK_MEMORY_S,
    jitter_factor,
    observed_cooldown_s,
)
from labeller.routing.keys import AliasKeys, alias_keys, provider_keys
from labeller.routing.limits import Grant, RouteLimits, Wait, WaitReason

__all__ = ["Limiter"]

#: The sliding RPM and TPM windows, in ms.
WINDOW_MS = 60_000
#: The wait offered (ms) when only a settle or a probe's outcome can free the way, whose time
#: nobody knows: short, as one acquire is one cheap round trip.
RETRY_MS = 500
#: How long (ms) a settled half-open probe keeps its claim, for its outcome to be recorded
#: just before or after the settle; one with none (a 429, a bad request) lets another probe.
PROBE_GRACE_MS = 2_000
#: `Limiter`'s routing settings unless given (a frozen model, shared safely).
DEFAULT_ROUTING = RoutingSettings()


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


class Limiter:
    """Grants calls on a route's keys within every limit, shared through `backend`.

    `clock` (epoch s) is passed only by tests: without it the backend's clock (Redis `TIME`)
    decides, one clock for every node. `rng` draws the cooldown jitter. `lease_s` bounds an
    in-flight slot whose worker died before settling it.
    """

    def __init__(
        self,
        backend: LimiterBackend,
        prefix: str,
        *,
        routing: RoutingSettings = DEFAULT_ROUTING,
        clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
        lease_s: float = 600.0,
        edge_guard_s: float = 0.0,
    ) -> None:
        """`edge_guard_s` lengthens our 60 s windows. A call granted at t reaches the provider
        a network hop later; when the hop of the call granted 60 s after it is shorter, the
        provider sees both within its own 60 s (seen in
        tests/integration/test_routing_three_providers.py). Workers pass
        `routing.edge_guard_s` (1 s: ~1.7% of the quota); exact-window tests pass nothing.
        """
        if lease_s <= 0:
            raise ValueError(f"lease_s must be positive, not {lease_s}")
        self._window_ms = WINDOW_MS + _ms(edge_guard_s)
        self._backend = backend
        self._prefix = prefix
        self._routing = routing
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._lease_ms = _ms(lease_s)

    def _now_ms(self) -> int | None:
        return None if self._clock is None else _ms(self._clock())

    def _aliases(self, route: RouteLimits) -> tuple[AliasKeys, ...]:
        return tuple(alias_keys(self._prefix, route.provider, key.alias) for key in route.keys)

    def acquire(self, route: RouteLimits, tokens: int) -> Grant | Wait:
        """Take a call on the roomiest free key of `route`, reserving `tokens`; never fails.

        `tokens` is the estimate (prompt, image and expected output) reserved in the key's and
        the provider's TPM windows until `settle` corrects it, so concurrent calls cannot
        overshoot together. A reservation larger than a whole TPM limit is granted only into
        an empty window (it could never fit beside anything). Otherwise returns a Wait: the
        earliest any key could be granted, and why. Raises LimiterUnavailable.
        """
        if tokens < 0:
            raise ValueError(f"{route.provider}: tokens must be >= 0, not {tokens}")
        request_id = uuid.uuid4().hex
        decision = self._backend.reserve(
            provider_keys(self._prefix, route.provider),
            self._aliases(route),
            route,
            request_id=request_id,
            tokens=tokens,
            window_ms=self._window_ms,
            lease_ms=self._lease_ms,
            retry_ms=RETRY_MS,
            now_ms=self._now_ms(),
        )
        if decision.key_index is None:
            return Wait(decision.wait_ms / 1000.0, WaitReason(decision.reason))
        alias = route.keys[decision.key_index].alias
        return Grant(route.provider, alias, request_id, tokens)

    def settle(self, grant: Grant, used_tokens: int) -> None:
        """Correct the grant's TPM reservation to `used_tokens` and free its in-flight slot.

        Call it once the call is over, whatever the outcome (0 tokens if none were billed),
        next to its `record_success`/`record_failure` (either order): a half-open probe settled
        without either lets another acquire probe PROBE_GRACE_MS later. Idempotent.
        """
        self._backend.settle(
            provider_keys(self._prefix, grant.provider),
            alias_keys(self._prefix, grant.provider, grant.key_alias),
            request_id=grant.request_id,
            used_tokens=max(used_tokens, 0),
            window_ms=self._window_ms,
            probe_grace_ms=PROBE_GRACE_MS,
            now_ms=self._now_ms(),
        )

    def cool_down(self, provider: str, key_alias: str, seconds: float | None) -> float:
        """After a 429: grant nothing on the key until the returned deadline (epoch s).

        `seconds` is the provider's retry-after, kept exactly. None backs off instead:
        `routing.cooldown_s` doubled per consecutive 429 on the key, capped at
        BACKOFF_CAP_S, with jitter. A shorter new cooldown never shortens the current one.
        """
        return self._cool(provider, key_alias, seconds, is_429=True)

    def observe(self, grant: Grant, info: RateLimitInfo) -> None:
        """Believe the provider's counters: a key with no requests left, or fewer tokens
        left than `grant.tokens`, cools down until the reset the provider gave."""
        seconds = observed_cooldown_s(info, grant.tokens, self._routing.cooldown_s)
        if seconds is not None:
            self._cool(grant.provider, grant.key_alias, seconds, is_429=False)

    def _cool(self, provider: str, key_alias: str, seconds: float | None, *, is_429: bool) -> float:
        until_ms = self._backend.cool_down(
            alias_keys(self._prefix, provider, key_alias),
            exact_ms=None if seconds is None else max(_ms(seconds), 0),
            base_ms=_ms(self._routing.cooldown_s),
            cap_ms=_ms(BACKOFF_CAP_S),
            jitter=1.0 if seconds is not None else jitter_factor(self._rng),
            is_429=is_429,
            memory_ms=_ms(STREAK_MEMORY_S),
            now_ms=self._now_ms(),
        )
        return until_ms / 1000.0

    def record_success(self, provider: str) -> None:
        """A call to `provider` succeeded: resets the failure count, closes a half-open
        breaker."""
        self._record(provider, success=True)

    def record_failure(self, provider: str) -> None:
        """A call failed in a way that says the provider is unwell (5xx, overload, timeout).

        `routing.breaker_failures` in a row open the breaker for `routing.breaker_open_s`;
        a half-open probe's failure re-opens it.
        """
        self._record(provider, success=False)

    def _record(self, provider: str, *, success: bool) -> None:
        self._backend.record(
            provider_keys(self._prefix, provider),
            success=success,
            threshold=self._routing.breaker_failures,
            open_ms=_ms(self._routing.breaker_open_s),
            now_ms=self._now_ms(),
        )

    def disable_key(self, provider: str, key_alias: str) -> bool:
        """After an AuthError: never grant the key again (until `enable_key`).

        True only for the one call, across all workers, that disabled it: that caller alerts.
        """
        return self._backend.disable(provider_keys(self._prefix, provider), key_alias)

    def enable_key(self, provider: str, key_alias: str) -> None:
        self._backend.enable(provider_keys(self._prefix, provider), key_alias)

    def snapshot(self, route: RouteLimits) -> dict[str, object]:
        """The route's state for status pages and metrics: usage in the current windows,
        in flight, cooldown deadlines and breaker state (epoch s), disabled keys."""
        state = self._backend.read(
            provider_keys(self._prefix, route.provider),
            self._aliases(route),
            route,
            window_ms=self._window_ms,
            now_ms=self._now_ms(),
        )
        keys = {
            limits.alias: {
                "rpm_used": used.rpm_used,
                "rpm_limit": limits.rpm,
                "tpm_used": used.tpm_used,
                "tpm_limit": limits.tpm,
                "cooldown_until": _seconds(used.cooldown_until_ms),
                "disabled": used.disabled,
            }
            for limits, used in zip(route.keys, state.keys, strict=True)
        }
        return {
            "provider": route.provider,
            "now": state.now_ms / 1000.0,
            "in_flight": state.in_flight,
            "max_in_flight": route.max_in_flight,
            "rpm_used": state.rpm_used,
            "rpm_limit": route.rpm,
            "tpm_used": state.tpm_used,
            "tpm_limit": route.tpm,
            "breaker": {
                "state": state.breaker,
                "failures": state.breaker_failures,
                "open_until": _seconds(state.breaker_until_ms),
            },
            "keys": keys,
            "disabled_keys": [alias for alias, key in keys.items() if key["disabled"]],
        }


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000.0
