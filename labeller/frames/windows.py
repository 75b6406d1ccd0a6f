"""Windows over a recording: which events each frame holds, cut by time or by event count.

A window is half-open twice over: times `[t_start_us, t_end_us)` and events `[i_start, i_end)`.
Planning streams: each window costs one or two `index_at`/`time_at` look-ups and O(1) state,
never a read of the timestamps, so a billion-event file is planned in memory proportional to the
windows the caller keeps. Validation happens when a `plan_*` function is called; the windows
themselves come from the generator it returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from labeller.config import BinningSettings
from labeller.errors import ConfigError
from labeller.recordings import Recording

__all__ = ["Window", "plan_count_windows", "plan_time_windows", "plan_windows"]


#: Windows whose boundaries are looked up together.
_WINDOW_BLOCK = 8192


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
        """Events in the window; the caller compares it with `min_events` to skip a frame."""
        return self.i_end - self.i_start


def plan_windows(recording: Recording, binning: BinningSettings) -> Iterator[Window]:
    """The windows `binning` asks for: by event count when `binning.events` is set, else by time.

    `binning.start` and `binning.end` are offsets from the recording's first event; they become
    absolute µs here. `min_events` is the caller's: every window is yielded, with its
    `event_count`. Raises `ConfigError` naming the setting for an empty or inverted range.
    """
    origin = recording.t_start_us
    start = None if binning.start_us is None else origin + binning.start_us
    end = None if binning.end_us is None else origin + binning.end_us
    if binning.events is not None:
        return plan_count_windows(
            recording,
            binning.events,
            stride_events=binning.stride_events,
            start_us=start,
            end_us=end,
            keep_partial=binning.keep_partial,
        )
    return plan_time_windows(
        recording,
        binning.window_us,
        stride_us=binning.stride_us,
        start_us=start,
        end_us=end,
        keep_partial=binning.keep_partial,
    )


def plan_time_windows(
    recording: Recording,
    window_us: int,
    *,
    stride_us: int | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
    keep_partial: bool = False,
) -> Iterator[Window]:
    """Windows `[t0, t0 + window_us)` with `t0 = start + k * stride_us` over `[start, end)` (µs).

    Bounds are absolute epoch µs, by default the whole recording (`end` is one µs past the last
    event). `stride_us` defaults to `window_us`: the windows then tile the range, share their
    boundary index (one `index_at` each) and every event lands in exactly one window. A smaller
    stride overlaps windows; a larger one leaves gaps whose events are in none. A window that
    would reach past `end` is partial: kept, cut at `end`, only if `keep_partial`, and then it is
    the last window, since every later one would be a subset of it. Raises `ConfigError` for a
    non-positive window or stride or for `end <= start`.
    """
    if window_us <= 0:
        raise ConfigError(f"binning.window must be positive, got {window_us} us")
    stride = window_us if stride_us is None else stride_us
    if stride <= 0:
        raise ConfigError(f"binning.stride must be positive, got {stride} us")
    start, end = _range(recording, start_us, end_us)
    return _time_windows(recording, window_us, stride, start, end, keep_partial)


def plan_count_windows(
    recording: Recording,
    events_per_window: int,
    *,
    stride_events: int | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
    keep_partial: bool = False,
) -> Iterator[Window]:
    """Windows of `events_per_window` consecutive events among those with time in `[start, end)`.

    Window k holds events `[i0, i0 + n)` with `i0 = first + k * stride_events` (default: `n`, so
    windows tile the events). Its times are `[time_at(i0), time_at(i_end))`, or one µs past the
    range's last event for the window that reaches it, so consecutive windows share their time
    boundary; as several events may share a µs, the event range, not the time range, is what
    defines the frame. The last window, with fewer than `n` events, is kept only if
    `keep_partial`. Costs one `time_at` per boundary. Raises `ConfigError` for a non-positive
    count or stride or for `end <= start`.
    """
    if events_per_window <= 0:
        raise ConfigError(f"binning.events must be positive, got {events_per_window}")
    stride = events_per_window if stride_events is None else stride_events
    if stride <= 0:
        raise ConfigError(f"binning.stride must be a positive event count, got {stride}")
    start, end = _range(recording, start_us, end_us)
    first = 0 if start_us is None else recording.index_at(start)
    stop = recording.event_count if end_us is None else recording.index_at(end)
    return _count_windows(recording, events_per_window, stride, first, stop, keep_partial)


def _range(recording: Recording, start_us: int | None, end_us: int | None) -> tuple[int, int]:
    """Absolute `[start, end)` (µs), defaulting to the recording; `ConfigError` if empty."""
    start = recording.t_start_us if start_us is None else start_us
    end = recording.t_end_us if end_us is None else end_us
    if end <= start:
        raise ConfigError(
            f"binning.end must be after binning.start: [{start}, {end}) us is empty "
            f"(the recording spans [{recording.t_start_us}, {recording.t_end_us}) us)"
        )
    return start, end


def _time_windows(
    recording: Recording, window_us: int, stride: int, start: int, end: int, keep_partial: bool
) -> Iterator[Window]:
    # Windows k = 0, 1, ... start at start + k * stride; the last may be cut at `end` (kept
    # only with `keep_partial`). Their event boundaries are looked up a block at a time in one
    # forward pass (`Recording.indices_at`), so memory stays one block's worth.
    full = max(0, (end - start - window_us) // stride + 1)  # windows that end by `end`
    starting = -(-(end - start) // stride)  # windows that start before `end`
    # The first partial window is the last one: every later one would be a subset of it.
    count = min(starting, full + 1) if keep_partial else full
    for first in range(0, count, _WINDOW_BLOCK):
        ks = np.arange(first, min(first + _WINDOW_BLOCK, count), dtype=np.int64)
        t0 = start + ks * stride
        t1 = np.minimum(t0 + window_us, end)
        bounds = np.unique(np.concatenate((t0, t1)))
        indices = recording.indices_at(bounds)
        i0 = indices[np.searchsorted(bounds, t0)]
        i1 = indices[np.searchsorted(bounds, t1)]
        for k, a, b, c, d in zip(
            ks.tolist(), t0.tolist(), t1.tolist(), i0.tolist(), i1.tolist(), strict=True
        ):
            yield Window(k, a, b, c, d)


def _count_windows(
    recording: Recording, n: int, stride: int, first: int, stop: int, keep_partial: bool
) -> Iterator[Window]:
    # One past the time of the range's last event, looked up once, when a window reaches it.
    tail_us: int | None = None
    known_i, known_t = -1, 0
    for index, i0 in enumerate(range(first, stop, stride)):
        i1 = i0 + n
        partial = i1 > stop
        if partial and not keep_partial:
            return
        i1 = min(i1, stop)
        t0 = known_t if i0 == known_i else recording.time_at(i0)
        if i1 < stop:
            t1 = recording.time_at(i1)
        else:
            if tail_us is None:
                tail_us = recording.time_at(stop - 1) + 1
            t1 = tail_us
        yield Window(index, t0, t1, i0, i1)
        if partial:
            return
        known_i, known_t = i1, t1
