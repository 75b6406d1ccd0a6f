"""What the simulator answered, by key hash, model and minute, for tests and dry runs to read.

Outcome counters are disjoint: each request that passed auth and validation counts once, as
accepted, rate_limited, overloaded, faults, timeouts or malformed. Every request the windows
admitted (all but rate_limited and overloaded) is also listed as [epoch_s, prompt_tokens,
completion_tokens], the tokens it was charged, so a test can check every 60 s window. The
minute is the epoch second at which it starts, from the injected clock.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FIELDS", "OUTCOMES", "Stats"]

#: Outcome counters; each request counts in exactly one.
OUTCOMES = ("accepted", "rate_limited", "overloaded", "faults", "timeouts", "malformed")
#: Counters kept per bucket and in the totals.
FIELDS = (*OUTCOMES, "prompt_tokens", "completion_tokens")
#: Admitted requests listed per key and model; older ones are forgotten (a long dry run).
MAX_LISTED = 1_000_000


@dataclass
class _Series:
    minutes: dict[int, dict[str, int]] = field(default_factory=dict)
    admitted: deque[tuple[float, int, int]] = field(
        default_factory=lambda: deque(maxlen=MAX_LISTED)
    )


class Stats:
    """Thread-safe counters: key hash → model → minute → field → count, plus the listing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[str, dict[str, _Series]] = {}

    def count(self, key_hash: str, model: str, now: float, outcome: str) -> None:
        """Count one refused request (rate_limited or overloaded) at `now` (epoch s)."""
        with self._lock:
            self._bucket(key_hash, model, now)[outcome] += 1

    def admit(
        self, key_hash: str, model: str, now: float, outcome: str, prompt: int, completion: int
    ) -> None:
        """Count and list one admitted request with the tokens the windows charged it."""
        with self._lock:
            bucket = self._bucket(key_hash, model, now)
            bucket[outcome] += 1
            bucket["prompt_tokens"] += prompt
            bucket["completion_tokens"] += completion
            self._series[key_hash][model].admitted.append((now, prompt, completion))

    def snapshot(self, *, with_requests: bool = False) -> dict[str, Any]:
        """The JSON body of GET /stats (`?requests=1` adds each admitted request)."""
        totals = dict.fromkeys(FIELDS, 0)
        keys: dict[str, Any] = {}
        with self._lock:
            for key_hash, by_model in self._series.items():
                keys[key_hash] = {}
                for model, series in by_model.items():
                    model_totals = dict.fromkeys(FIELDS, 0)
                    for bucket in series.minutes.values():
                        for name in FIELDS:
                            model_totals[name] += bucket[name]
                    entry: dict[str, Any] = {
                        "minutes": {str(m): dict(b) for m, b in sorted(series.minutes.items())},
                        "totals": model_totals,
                    }
                    if with_requests:
                        entry["requests"] = [list(item) for item in series.admitted]
                    keys[key_hash][model] = entry
                    for name in FIELDS:
                        totals[name] += model_totals[name]
        return {"keys": keys, "totals": totals}

    def reset(self) -> None:
        """Forget every count and listing (POST /stats/reset); the limit windows are kept."""
        with self._lock:
            self._series.clear()

    def _bucket(self, key_hash: str, model: str, now: float) -> dict[str, int]:
        series = self._series.setdefault(key_hash, {}).setdefault(model, _Series())
        minute = int(now // 60) * 60
        return series.minutes.setdefault(minute, dict.fromkeys(FIELDS, 0))
