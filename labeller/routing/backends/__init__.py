"""Limiter backends: Redis for every deployment, shared by every worker on every node."""

from __future__ import annotations

from labeller.routing.backends.redis import RedisBackend

__all__ = ["RedisBackend"]
