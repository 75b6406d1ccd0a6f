"""Routing: the shared rate limiter, weighted routing with fallback chains, and pricing."""

from __future__ import annotations

from labeller.routing.backend import LimiterBackend
from labeller.routing.backends import RedisBackend
from labeller.routing.breaker import BreakerState
from labeller.routing.limiter import Limiter
from labeller.routing.limits import Grant, KeyLimits, RouteLimits, Wait, WaitReason
from labeller.routing.pricing import Price, call_cost, price_for
from labeller.routing.router import Router

__all__ = [
    "BreakerState",
    "Grant",
    "KeyLimits",
    "Limiter",
    "LimiterBackend",
    "Price",
    "RedisBackend",
    "RouteLimits",
    "Router",
    "Wait",
    "WaitReason",
    "call_cost",
    "price_for",
]
