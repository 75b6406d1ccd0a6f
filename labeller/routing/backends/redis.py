"""The limiter's primitives as Lua scripts on Redis: one round trip per decision."""

from __future__ import annotations

from importlib import resources

import redis
from redis.commands.core import Script

from labeller.errors import LimiterUnavailable

__all__ = ["RedisBackend"]


def _script(client: redis.Redis, name: str) -> Script:
    source = (resources.files("labeller.routing") / "lua" / f"{name}.lua").read_text()
    return client.register_script(source)


class RedisBackend:
    """LimiterBackend on one Redis; the client is built by the caller (one per process)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._acquire = _script(client, "acquire")

    @classmethod
    def from_url(cls, url: str) -> RedisBackend:
        return cls(redis.Redis.from_url(url, socket_timeout=10, health_check_interval=30))

    def acquire_window(
        self, key: str, limit: int, window_ms: int, request_id: str, now_ms: int | None
    ) -> int:
        args: list[str | int] = [limit, window_ms, request_id, "" if now_ms is None else now_ms]
        try:
            return int(self._acquire(keys=[key], args=args))
        except redis.RedisError as exc:
            raise LimiterUnavailable(f"rate limiter at Redis: {type(exc).__name__}") from exc

    def close(self) -> None:
        self._client.close()
