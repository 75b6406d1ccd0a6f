"""Routing: the shared rate limiter, weighted routing with fallback chains, and pricing."""

from __future__ import annotations

from labeller.routing.backend import LimiterBackend
from labeller.routing.backends import RedisBackend
from labeller.routing.limiter import Limiter
from labeller.routing.pricing import Price, call_cost, price_for
from labeller.routing.router import Router

__all__ = [
    "Limiter",
    "LimiterBackend",
    "Price",
    "RedisBackend",
    "Router",
    "call_cost",
    "price_for",
]
