"""Per (key hash, model) 60 s sliding windows of accepted requests and their tokens (RPM, TPM).

Check and record happen under one lock, and only admitted requests are recorded: a 429 or an
overload costs the caller nothing, as on the real services. A request's tokens are its prompt
plus completion, known before admission because captions are deterministic (the real services
estimate the completion from max_tokens, which only makes them stricter). Times come from the
caller, so tests drive the windows with a fake clock.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["UNLIMITED_REQUESTS", "UNLIMITED_TOKENS", "WINDOW_S", "Decision", "SlidingWindow"]

#: Length of both windows, in seconds.
WINDOW_S = 60.0
#: Request limit reported (and, in effect, never reached) when a profile sets no rpm.
UNLIMITED_REQUESTS = 1_000_000
#: Token limit reported when a profile sets no tpm; not enforced.
UNLIMITED_TOKENS = 1_000_000


@dataclass(frozen=True)
class Decision:
    """Outcome of one request against its windows; durations in seconds from now."""

    allowed: bool
    #: "requests" or "tokens" when refused (tokens wins when both are exceeded), else None.
    exceeded: str | None
    limit_requests: int
    #: Admitted requests in the window, counting this one if it was allowed.
    used_requests: int
    remaining_requests: int
    #: Until the request window is empty again (x-ratelimit-reset-requests).
    reset_requests_s: float
    limit_tokens: int
    #: Tokens in the window, counting this request's if it was allowed.
    used_tokens: int
    remaining_tokens: int
    #: Until the token window is empty again.
    reset_tokens_s: float
    #: Tokens this request asked for.
    requested_tokens: int
    #: Until this request would fit; 0 when allowed, WINDOW_S when it never can (too large).
    retry_after_s: float
    #: The request alone exceeds the token limit: no wait makes it fit.
    too_large: bool = False


class _Window:
    """One key and model's admitted (time, tokens) pairs, oldest first, and their token sum.

    The sum is kept as entries come and go: summing a minute of entries on every request cost
    O(requests per minute), about 1 ms a request at 10k a minute.
    """

    __slots__ = ("entries", "tokens")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int]] = deque()
        self.tokens = 0

    def expire(self, now: float) -> None:
        entries = self.entries
        while entries and entries[0][0] <= now - WINDOW_S:
            self.tokens -= entries.popleft()[1]

    def add(self, at: float, tokens: int) -> None:
        self.entries.append((at, tokens))
        self.tokens += tokens


class SlidingWindow:
    """Admitted (time, tokens) pairs per (key hash, model) within the last WINDOW_S seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], _Window] = {}

    def acquire(
        self,
        key_hash: str,
        model: str,
        rpm: int | None,
        tpm: int | None,
        tokens: int,
        now: float,
        *,
        record: bool = True,
    ) -> Decision:
        """Admit and record one request of `tokens` at `now` (epoch s) if both windows allow.

        With `record=False` only report what would happen (headers of a drawn 429).
        """
        limit_requests = rpm or UNLIMITED_REQUESTS
        with self._lock:
            window = self._windows.get((key_hash, model))
            if window is None:
                window = self._windows[(key_hash, model)] = _Window()
            window.expire(now)
            entries = window.entries
            wait_requests = 0.0
            if len(entries) >= limit_requests:
                wait_requests = entries[len(entries) - limit_requests][0] + WINDOW_S - now
            too_large = tpm is not None and tokens > tpm
            wait_tokens = WINDOW_S if too_large else _token_wait(window, tpm, tokens, now)
            allowed = wait_requests == 0.0 and wait_tokens == 0.0
            if allowed and record:
                window.add(now, tokens)
            used_tokens = window.tokens
            exceeded = None
            if wait_tokens > 0.0:
                exceeded = "tokens"
            elif wait_requests > 0.0:
                exceeded = "requests"
            reset_s = entries[-1][0] + WINDOW_S - now if entries else 0.0
            limit_tokens = tpm or UNLIMITED_TOKENS
            return Decision(
                allowed=allowed,
                exceeded=exceeded,
                limit_requests=limit_requests,
                used_requests=len(entries),
                remaining_requests=max(0, limit_requests - len(entries)),
                reset_requests_s=reset_s,
                limit_tokens=limit_tokens,
                used_tokens=used_tokens,
                remaining_tokens=max(0, limit_tokens - used_tokens),
                reset_tokens_s=reset_s,
                requested_tokens=tokens,
                retry_after_s=max(wait_requests, wait_tokens),
                too_large=too_large,
            )


def _token_wait(window: _Window, tpm: int | None, tokens: int, now: float) -> float:
    """Seconds until enough old entries leave the window for `tokens` more to fit in `tpm`."""
    if tpm is None:
        return 0.0
    excess = window.tokens + tokens - tpm
    for at, n in window.entries:
        if excess <= 0:
            break
        excess -= n
        if excess <= 0:
            return at + WINDOW_S - now
    return 0.0
