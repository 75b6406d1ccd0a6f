"""One reader for every layout: validation, sensor size, time lookups and event reads.

Time lookups never load all timestamps. A file's own time index (if it has one) proposes a
bracket of event indices and the timestamps at its two ends confirm it; a wrong or missing
bracket falls back to bisection over single timestamps until `_SEARCH_SLICE` events remain,
which are read at once. A lookup therefore costs O(log n) small reads, whatever the file size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from labeller.errors import RecordingError
from labeller.recordings._events import Events
from labeller.recordings.formats._columns import Column, Columns, TimeBase

__all__ = ["ColumnReader", "PeriodIndex"]

#: Most timestamps one `index_at` reads in a single slice (events; 128 KB as int64).
_SEARCH_SLICE = 1 << 14
#: Events read per step when deriving the sensor size from the coordinates.
_SIZE_CHUNK = 1 << 20
#: Timestamps read at once by `indices_at` (8 MB of int64).
_BATCH_EVENTS = 1 << 20


class PeriodIndex:
    """A file's own time index: entry `first + k` ≈ first event at or after `origin_us + k·period`.

    DSEC's `ms_to_idx` and M3ED's `ms_map_idx` (1 ms steps, `first` 0) and Prophesee's
    `CD/indexes` (2 ms steps from the first event, entry 0 a placeholder, so `first` 1) fit this
    shape. Entries are hints, never trusted: Prophesee repeats a stale entry across empty
    periods, and a truncated index simply ends; `ColumnReader` checks each bracket it gets.
    """

    def __init__(self, ids: Column, *, period_us: int, origin_us: int, first: int = 0) -> None:
        self._ids = ids
        self._period_us = period_us
        self._origin_us = origin_us
        self._first = first

    def bracket(self, t_us: int, count: int) -> tuple[int, int] | None:
        """Event indices `(lo, hi)` that should hold the first event at or after `t_us`."""
        size = self._ids.length
        k = (t_us - self._origin_us) // self._period_us + self._first
        if k < self._first or size <= self._first:
            return None
        if k >= size:
            return _clamp(int(self._ids.read(size - 1, size)[0]), count), count
        pair = self._ids.read(k, k + 2)
        lo = _clamp(int(pair[0]), count)
        hi = _clamp(int(pair[1]), count) if pair.shape[0] > 1 else count
        return lo, max(lo, hi)


def _clamp(value: int, count: int) -> int:
    return min(max(value, 0), count)


class ColumnReader:
    """Validated random access to one recording's events; times are absolute µs.

    `width`/`height` come from the file or the settings; None derives them from the largest
    coordinate on first use (one chunked pass) or from a scan that already saw it.
    """

    def __init__(
        self,
        path: Path,
        columns: Columns,
        time: TimeBase,
        *,
        width: int | None,
        height: int | None,
        index: PeriodIndex | None = None,
    ) -> None:
        self._path = path
        self._columns = columns
        self._time = time
        self._index = index
        lengths = [c.length for c in columns.all]
        if len(set(lengths)) != 1:
            names = ", ".join(c.name for c in columns.all)
            detail = ", ".join(f"{c.name.rsplit('/', 1)[-1]}={c.length}" for c in columns.all)
            raise RecordingError(f"{path}: datasets {names} differ in length ({detail})")
        self._n = lengths[0]
        if self._n == 0:
            raise RecordingError(
                f"{path}: dataset {columns.t.name} is empty: the recording has no events"
            )
        self._first_us = self.time_at(0)
        self._last_us = self.time_at(self._n - 1)
        self._width = width
        self._height = height

    @property
    def event_count(self) -> int:
        return self._n

    @property
    def t_start_us(self) -> int:
        return self._first_us

    @property
    def t_end_us(self) -> int:
        return self._last_us + 1

    @property
    def datasets(self) -> dict[str, str]:
        """Dataset holding each field, keyed "x", "y", "p", "t" (for messages)."""
        c = self._columns
        return {"x": c.x.name, "y": c.y.name, "p": c.p.name, "t": c.t.name}

    @property
    def width(self) -> int:
        if self._width is None:
            self._width = self._columns.x.max(self._n, _SIZE_CHUNK) + 1
        return self._width

    @property
    def height(self) -> int:
        if self._height is None:
            self._height = self._columns.y.max(self._n, _SIZE_CHUNK) + 1
        return self._height

    def settle_size(self, max_x: int, max_y: int) -> None:
        """Adopt a scan's largest coordinates where the size is still unknown."""
        if self._width is None:
            self._width = max_x + 1
        if self._height is None:
            self._height = max_y + 1

    def times(self, i0: int, i1: int) -> NDArray[np.int64]:
        """Absolute µs of events `[i0, i1)`, reading only the time field."""
        return self._time.to_us(self._columns.t.read(i0, i1))

    def time_at(self, index: int) -> int:
        if not 0 <= index < self._n:
            raise RecordingError(
                f"{self._path}: event {index} is outside dataset {self._columns.t.name} "
                f"of {self._n} events"
            )
        return int(self.times(index, index + 1)[0])

    def index_at(self, t_us: int) -> int:
        """Index of the first event at or after `t_us` (absolute µs); `event_count` if none."""
        if t_us <= self._first_us:
            return 0
        if t_us > self._last_us:
            return self._n
        # Invariant: the answer is in [lo, hi], t[lo - 1] < t_us and t[hi] >= t_us.
        lo, hi = 1, self._n - 1
        hint = self._index.bracket(t_us, self._n) if self._index is not None else None
        if hint is not None:
            a, b = max(hint[0], lo), min(hint[1], hi)
            if a <= b and b - a <= _SEARCH_SLICE:
                window = self.times(a - 1, b + 1)
                if window[0] < t_us <= window[-1]:
                    return a - 1 + int(np.searchsorted(window, t_us, side="left"))
            lo, hi = self._narrow(t_us, lo, hi, a)
            lo, hi = self._narrow(t_us, lo, hi, b + 1)
        while hi - lo > _SEARCH_SLICE:
            mid = (lo + hi) // 2
            lo, hi = self._narrow(t_us, lo, hi, mid + 1)
        return lo + int(np.searchsorted(self.times(lo, hi), t_us, side="left"))

    def indices_at(self, times_us: NDArray[np.int64]) -> NDArray[np.int64]:
        """`index_at` of each of `times_us` (sorted ascending), in one forward pass.

        Timestamps are read in slices of `_BATCH_EVENTS` between the first and last answer,
        and each slice answers every query it covers with one `searchsorted`: planning a
        million windows costs a few hundred reads, not two bisections per window.
        """
        out = np.empty(len(times_us), dtype=np.int64)
        done, n = 0, len(times_us)
        while done < n:
            # Jump to the next unanswered query: sparse queries over dense events skip reads.
            i = self.index_at(int(times_us[done]))
            if i >= self._n:
                out[done:] = self._n
                break
            chunk = self.times(i, min(i + _BATCH_EVENTS, self._n))
            # Queries up to the slice's last time have their answer inside it (t[i-1] < them).
            upto = done + int(np.searchsorted(times_us[done:], chunk[-1], side="right"))
            out[done:upto] = i + np.searchsorted(chunk, times_us[done:upto], side="left")
            done = upto  # > done: index_at put chunk[0] at or after the query
        return out

    def _narrow(self, t_us: int, lo: int, hi: int, split: int) -> tuple[int, int]:
        """Keep the invariant of `index_at` after comparing t[split - 1] with `t_us`."""
        if not lo < split <= hi:
            return lo, hi
        if int(self.times(split - 1, split)[0]) < t_us:
            return split, hi
        return lo, split - 1

    def read(self, i0: int, i1: int) -> Events:
        """Events `[i0, i1)`; raises `RecordingError` if the range is outside the file."""
        if not 0 <= i0 <= i1 <= self._n:
            raise RecordingError(
                f"{self._path}: event range [{i0}, {i1}) is outside dataset "
                f"{self._columns.t.name} of {self._n} events"
            )
        x, y, p, t = self._columns.read(i0, i1)
        return Events(
            x=x.astype(np.uint16),
            y=y.astype(np.uint16),
            # ON is p > 0, so 0/1, -1/+1 and booleans all read the same.
            p=(p > 0).view(np.uint8),
            t_us=self._time.to_us(t),
        )
