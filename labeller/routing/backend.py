"""What the limiter needs of a shared store: atomic primitives with units (cf. dramatiq's)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["LimiterBackend"]


class LimiterBackend(Protocol):
    def acquire_window(
        self, key: str, limit: int, window_ms: int, request_id: str, now_ms: int | None
    ) -> int:
        """Take a slot in `key`'s sliding window: 0 if granted, else the wait in ms.

        `now_ms` is None in production (the backend's own clock decides, one for every node);
        tests pass a fake clock's reading. Raises LimiterUnavailable if the store is down.
        """
        ...
