"""The global requests-per-minute limit of each provider, shared through the backend."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from labeller.routing.backend import LimiterBackend
from labeller.routing.keys import rpm_key

__all__ = ["Limiter"]

#: The RPM window, in ms.
WINDOW_MS = 60_000


class Limiter:
    """Grants request slots per provider; `clock` (epoch s) is passed only by tests."""

    def __init__(
        self,
        backend: LimiterBackend,
        prefix: str,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._backend = backend
        self._prefix = prefix
        self._clock = clock

    def acquire(self, provider: str, rpm: int | None) -> float:
        """Take one request slot for `provider`: 0.0 if granted, else seconds to wait."""
        if rpm is None:
            return 0.0
        now_ms = None if self._clock is None else int(self._clock() * 1000)
        wait_ms = self._backend.acquire_window(
            rpm_key(self._prefix, provider), rpm, WINDOW_MS, uuid.uuid4().hex, now_ms
        )
        return wait_ms / 1000.0
