"""One feeder at a time: a lease in Redis that the acting feeder renews every round.

Several workers on several nodes each run a feeder thread; whichever holds the lease feeds, and
when it dies the lease lapses and another takes over within `ttl_s`. Correctness never rests on
the lease (the database's conditional writes do that); it only saves duplicate work.
"""

from __future__ import annotations

import uuid
from typing import Protocol

__all__ = ["LeaseBackend", "Leadership"]


class LeaseBackend(Protocol):
    """A named lease with a holder token and a TTL (`labeller.routing.RedisBackend`)."""

    def hold_lease(self, key: str, token: str, ttl_ms: int) -> bool: ...

    def release_lease(self, key: str, token: str) -> None: ...


class Leadership:
    """`hold()` takes or renews the lease; True while this process is the one feeder.

    Raises LimiterUnavailable when Redis cannot be reached (the feeder then waits it out).
    """

    def __init__(self, backend: LeaseBackend, key: str, ttl_s: float) -> None:
        self._backend = backend
        self._key = key
        self._ttl_ms = max(int(ttl_s * 1000), 1)
        self._token = uuid.uuid4().hex

    def hold(self) -> bool:
        return self._backend.hold_lease(self._key, self._token, self._ttl_ms)

    def release(self) -> None:
        self._backend.release_lease(self._key, self._token)
