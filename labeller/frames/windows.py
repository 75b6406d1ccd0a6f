"""Time windows over a recording: half-open `[t_start, t_end)` tiles, each with its event range.

Consecutive windows share their boundary index, so every event in `[start, end)` lands in
exactly one window. Planning costs one `index_at` per window, never a read of all timestamps.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from labeller.errors import ConfigError
from labeller.recordings import Recording

__all__ = ["Window", "parse_duration_us", "plan_time_windows"]

#: Microseconds per unit accepted by `parse_duration_us`.
_UNIT_US = {"us": 1, "µs": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(us|µs|ms|s|m|h)")


@dataclass(frozen=True)
class Window:
    """Window `index`: times `[t_start_us, t_end_us)` (epoch µs), events `[i_start, i_end)`."""

    index: int
    t_start_us: int
    t_end_us: int
    i_start: int
    i_end: int

    @property
    def event_count(self) -> int:
        return self.i_end - self.i_start


def plan_time_windows(
    recording: Recording,
    window_us: int,
    *,
    start_us: int | None = None,
    end_us: int | None = None,
) -> Iterator[Window]:
    """Tile `[start_us, end_us)` (epoch µs, default: the whole recording) with `window_us` windows.

    The last window is cut at `end_us` and kept even if shorter. An event exactly on a boundary
    belongs to the later window. Raises `ConfigError` for a non-positive window or `end < start`.
    """
    if window_us <= 0:
        raise ConfigError(f"window must be positive, got {window_us} us")
    start = recording.t_start_us if start_us is None else start_us
    end = recording.t_end_us if end_us is None else end_us
    if end < start:
        raise ConfigError(f"window range ends before it starts: [{start}, {end}) us")
    return _tile(recording, window_us, start, end)


def _tile(recording: Recording, window_us: int, start: int, end: int) -> Iterator[Window]:
    i_start = recording.index_at(start)
    for index, t_start in enumerate(range(start, end, window_us)):
        t_end = min(t_start + window_us, end)
        i_end = recording.index_at(t_end)
        yield Window(index, t_start, t_end, i_start, i_end)
        i_start = i_end


def parse_duration_us(text: str) -> int:
    """Parse "50ms", "1s", "250us", "0.5s" or "10m" (also "µs", "h") into whole microseconds.

    Raises `ConfigError` naming the text if it has no unit, is malformed or is not a whole µs.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ConfigError(
            f"invalid duration {text!r}: expected a number and a unit (us, ms, s, m, h), e.g. 50ms"
        )
    value = Decimal(match.group(1)) * _UNIT_US[match.group(2)]
    if value != value.to_integral_value():
        raise ConfigError(f"invalid duration {text!r}: not a whole number of microseconds")
    return int(value)
