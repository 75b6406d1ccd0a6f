"""Per (key hash, model) 60 s sliding window of accepted requests, as OpenAI's RPM limit.

Check and record happen under one lock, and only accepted requests are recorded: a 429 costs
the caller nothing, as on the real service. Times come from the caller, so tests drive the
window with a fake clock.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["WINDOW_S", "Decision", "SlidingWindow"]

#: Length of the RPM window, in seconds.
WINDOW_S = 60.0


@dataclass(frozen=True)
class Decision:
    """Outcome of one request against its window; durations in seconds from now."""

    allowed: bool
    limit: int
    #: Accepted requests in the window, counting this one if it was allowed.
    used: int
    remaining: int
    #: Time until the window is empty again (x-ratelimit-reset-requests).
    reset_s: float
    #: Time until one more request fits; 0 when allowed.
    retry_after_s: float
    #: Tokens recorded in the window, counting this request's if it was allowed.
    used_tokens: int
    reset_tokens_s: float


class SlidingWindow:
    """Accepted (time, tokens) pairs per (key hash, model) within the last WINDOW_S seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], deque[tuple[float, int]]] = {}

    def acquire(self, key_hash: str, model: str, limit: int, tokens: int, now: float) -> Decision:
        """Admit and record one request of `tokens` at `now` (epoch s) if under `limit`."""
        with self._lock:
            entries = self._entries.setdefault((key_hash, model), deque())
            while entries and entries[0][0] <= now - WINDOW_S:
                entries.popleft()
            allowed = len(entries) < limit
            if allowed:
                entries.append((now, tokens))
            used = len(entries)
            used_tokens = sum(n for _, n in entries)
            reset_s = entries[-1][0] + WINDOW_S - now if entries else 0.0
            retry_after_s = 0.0 if allowed else entries[0][0] + WINDOW_S - now
            return Decision(
                allowed=allowed,
                limit=limit,
                used=used,
                remaining=max(0, limit - used),
                reset_s=reset_s,
                retry_after_s=retry_after_s,
                used_tokens=used_tokens,
                reset_tokens_s=reset_s,
            )
