"""The limiter's primitives as Lua scripts on Redis: one round trip per decision.

The scripts live in `labeller/routing/lua/`, one per atomic decision, each headed by its KEYS,
ARGV and return shape; this module only lays out their arguments and reads their replies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from importlib import resources
from typing import Any

import redis
from redis.commands.core import Script

from labeller.errors import LimiterUnavailable
from labeller.routing.backend import AliasState, Decision, ProviderState
from labeller.routing.keys import AliasKeys, ProviderKeys
from labeller.routing.limits import RouteLimits

__all__ = ["RedisBackend"]

Arg = str | int | float


@cache
def _source(name: str) -> str:
    return (resources.files("labeller.routing") / "lua" / f"{name}.lua").read_text()


def _opt(value: int | None) -> Arg:
    """ARGV has no nil: "" stands for None (no limit, or no fake clock)."""
    return "" if value is None else value


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@contextmanager
def _translated() -> Iterator[None]:
    """Redis errors become LimiterUnavailable, the cause kept; the text names no URL."""
    try:
        yield
    except redis.RedisError as exc:
        raise LimiterUnavailable(f"rate limiter at Redis: {type(exc).__name__}") from exc


def _route_keys(provider: ProviderKeys, aliases: Sequence[AliasKeys]) -> list[str]:
    keys = [
        provider.rpm,
        provider.tpm,
        provider.tpm_tokens,
        provider.tpm_total,
        provider.in_flight,
        provider.breaker,
        provider.disabled,
    ]
    for alias in aliases:
        keys += [alias.rpm, alias.tpm, alias.tpm_tokens, alias.tpm_total, alias.cooldown]
    return keys


class RedisBackend:
    """LimiterBackend on one Redis; the client is built by the caller (one per process)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._scripts: dict[str, Script] = {
            name: client.register_script(_source(name))
            for name in (
                "acquire",
                "settle",
                "cooldown",
                "breaker",
                "snapshot",
                "lease_hold",
                "lease_release",
            )
        }

    @classmethod
    def from_url(cls, url: str) -> RedisBackend:
        return cls(redis.Redis.from_url(url, socket_timeout=10, health_check_interval=30))

    def _run(self, name: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        script: Callable[..., Any] = self._scripts[name]
        with _translated():
            return script(keys=list(keys), args=list(args))

    def hold_lease(self, key: str, token: str, ttl_ms: int) -> bool:
        """Take or renew the lease `key` for `token`; False while another token holds it."""
        return bool(self._run("lease_hold", [key], [token, ttl_ms]))

    def release_lease(self, key: str, token: str) -> None:
        self._run("lease_release", [key], [token])

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
        args: list[Arg] = [
            _opt(now_ms),
            request_id,
            tokens,
            window_ms,
            lease_ms,
            retry_ms,
            _opt(route.rpm),
            _opt(route.tpm),
            _opt(route.max_in_flight),
            len(route.keys),
        ]
        for key in route.keys:
            args += [key.alias, _opt(key.rpm), _opt(key.tpm)]
        reply = self._run("acquire", _route_keys(provider, aliases), args)
        if int(reply[0]) == 1:
            return Decision(key_index=int(reply[1]) - 1, wait_ms=0, reason="")
        return Decision(key_index=None, wait_ms=int(reply[1]), reason=_text(reply[2]))

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
        keys = [
            provider.tpm_tokens,
            provider.tpm_total,
            alias.tpm_tokens,
            alias.tpm_total,
            provider.in_flight,
            provider.breaker,
        ]
        args: list[Arg] = [request_id, used_tokens, window_ms, _opt(now_ms), probe_grace_ms]
        return int(self._run("settle", keys, args)) == 1

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
        args: list[Arg] = [
            _opt(now_ms),
            _opt(exact_ms),
            base_ms,
            cap_ms,
            repr(jitter),
            int(is_429),
            memory_ms,
        ]
        return int(self._run("cooldown", [alias.cooldown], args))

    def record(
        self,
        provider: ProviderKeys,
        *,
        success: bool,
        threshold: int,
        open_ms: int,
        now_ms: int | None,
    ) -> str:
        outcome = "success" if success else "failure"
        args: list[Arg] = [_opt(now_ms), outcome, threshold, open_ms]
        return _text(self._run("breaker", [provider.breaker], args))

    def disable(self, provider: ProviderKeys, alias: str) -> bool:
        with _translated():
            return int(self._client.sadd(provider.disabled, alias)) == 1

    def enable(self, provider: ProviderKeys, alias: str) -> None:
        with _translated():
            self._client.srem(provider.disabled, alias)

    def read(
        self,
        provider: ProviderKeys,
        aliases: Sequence[AliasKeys],
        route: RouteLimits,
        *,
        window_ms: int,
        now_ms: int | None,
    ) -> ProviderState:
        args: list[Arg] = [_opt(now_ms), window_ms, len(route.keys)]
        args += [key.alias for key in route.keys]
        reply = self._run("snapshot", _route_keys(provider, aliases), args)
        head, tail = reply[:7], reply[7:]
        keys = tuple(
            AliasState(
                rpm_used=int(tail[i]),
                tpm_used=int(tail[i + 1]),
                cooldown_until_ms=int(tail[i + 2]) or None,
                disabled=int(tail[i + 3]) == 1,
            )
            for i in range(0, len(tail), 4)
        )
        return ProviderState(
            now_ms=int(head[0]),
            rpm_used=int(head[1]),
            tpm_used=int(head[2]),
            in_flight=int(head[3]),
            breaker=_text(head[4]),
            breaker_failures=int(head[5]),
            breaker_until_ms=int(head[6]) or None,
            keys=keys,
        )

    def close(self) -> None:
        self._client.close()
