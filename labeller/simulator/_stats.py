"""Counts of what the simulator answered, by key hash, model and minute, for tests to read.

The minute is the epoch second at which it starts, from the injected clock, so tests can tell
which window a request landed in.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["FIELDS", "Stats"]

#: Counters kept per bucket and in the totals.
FIELDS = ("accepted", "rate_limited", "faults", "prompt_tokens", "completion_tokens")


class Stats:
    """Thread-safe nested counters: key hash → model → minute → field → count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, dict[str, dict[int, dict[str, int]]]] = {}

    def add(self, key_hash: str, model: str, now: float, **counts: int) -> None:
        """Add `counts` (names from FIELDS) to the bucket of the minute holding `now` (epoch s)."""
        minute = int(now // 60) * 60
        with self._lock:
            by_minute = self._buckets.setdefault(key_hash, {}).setdefault(model, {})
            bucket = by_minute.setdefault(minute, dict.fromkeys(FIELDS, 0))
            for name, n in counts.items():
                bucket[name] += n

    def snapshot(self) -> dict[str, Any]:
        """The JSON body of GET /stats: per-bucket counts and their totals."""
        totals = dict.fromkeys(FIELDS, 0)
        requests: dict[str, Any] = {}
        with self._lock:
            for key_hash, by_model in self._buckets.items():
                requests[key_hash] = {}
                for model, by_minute in by_model.items():
                    requests[key_hash][model] = {
                        str(minute): dict(bucket) for minute, bucket in by_minute.items()
                    }
                    for bucket in by_minute.values():
                        for name in FIELDS:
                            totals[name] += bucket[name]
        return {"requests": requests, "totals": totals}

    def reset(self) -> None:
        """Forget every count (POST /stats/reset)."""
        with self._lock:
            self._buckets.clear()
