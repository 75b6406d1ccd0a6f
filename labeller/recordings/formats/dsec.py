"""The DSEC layout: `events/{x,y,p,t}`, `ms_to_idx` and the scalar `t_offset`.

`events/t` is µs relative to `t_offset` (epoch µs) and sorted; `ms_to_idx[k]` is the index of
the first event with `t >= k` ms. Time lookups read two `ms_to_idx` entries and a slice of at
most `_SEARCH_SLICE` timestamps, so a billion-event file is planned without loading `events/t`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np

from labeller.errors import RecordingError
from labeller.recordings._events import Events
from labeller.recordings.formats._base import Format

__all__ = ["FORMAT", "DsecReader", "detect"]

_X, _Y, _P, _T = "events/x", "events/y", "events/p", "events/t"
_MS_TO_IDX = "ms_to_idx"
_T_OFFSET = "t_offset"
_COLUMNS = (_X, _Y, _P, _T)
_REQUIRED = (*_COLUMNS, _MS_TO_IDX, _T_OFFSET)

#: Most timestamps read by one `index_at`; wider ranges are first narrowed by bisection (events).
_SEARCH_SLICE = 1 << 14
#: Events read per step when scanning for the sensor size (events; ~2 MB of uint16).
_SCAN_CHUNK = 1 << 20


def detect(h5file: Any) -> bool:
    """Guess DSEC from the `events` group alone, so a broken DSEC file is reported as one."""
    return isinstance(h5file.get("events"), h5py.Group)


class DsecReader:
    """Validated random access to a DSEC file; the caller owns and closes `h5file`."""

    def __init__(self, h5file: Any, path: Path) -> None:
        self._path = path
        self._h5 = h5file
        for name in _REQUIRED:
            if not isinstance(h5file.get(name), h5py.Dataset):
                raise RecordingError(
                    f"{path}: not a DSEC event recording: dataset {name} is missing"
                )
        for name in (*_COLUMNS, _MS_TO_IDX):
            _check_integer_vector(h5file[name], name, path)
        self._x, self._y, self._p, self._t = (h5file[name] for name in _COLUMNS)
        self._ms_to_idx = h5file[_MS_TO_IDX]
        self._t_offset = _read_scalar(h5file[_T_OFFSET], path)
        lengths = [int(ds.shape[0]) for ds in (self._x, self._y, self._p, self._t)]
        if len(set(lengths)) != 1:
            detail = ", ".join(
                f"{n.split('/')[1]}={k}" for n, k in zip(_COLUMNS, lengths, strict=True)
            )
            raise RecordingError(
                f"{path}: datasets {', '.join(_COLUMNS)} differ in length ({detail})"
            )
        self._n = lengths[0]
        if self._n == 0:
            raise RecordingError(f"{path}: dataset {_T} is empty: the recording has no events")
        self._first_t = int(self._t[0])
        self._last_t = int(self._t[self._n - 1])
        self._width = _read_size_attr(h5file, "width", path)
        self._height = _read_size_attr(h5file, "height", path)

    @property
    def event_count(self) -> int:
        return self._n

    @property
    def t_start_us(self) -> int:
        return self._t_offset + self._first_t

    @property
    def t_end_us(self) -> int:
        return self._t_offset + self._last_t + 1

    @property
    def width(self) -> int:
        if self._width is None:
            self._width = self._max_coordinate(self._x) + 1
        return self._width

    @property
    def height(self) -> int:
        if self._height is None:
            self._height = self._max_coordinate(self._y) + 1
        return self._height

    def index_at(self, t_us: int) -> int:
        """Index of the first event with absolute time ≥ `t_us` (µs); `event_count` if none."""
        rel = t_us - self._t_offset
        if rel <= self._first_t:
            return 0
        if rel > self._last_t:
            return self._n
        lo, hi = self._ms_bounds(rel // 1000)
        while hi - lo > _SEARCH_SLICE:
            mid = (lo + hi) // 2
            if int(self._t[mid]) < rel:
                lo = mid + 1
            else:
                hi = mid
        window = np.asarray(self._t[lo:hi], dtype=np.int64)
        return lo + int(np.searchsorted(window, rel, side="left"))

    def read(self, i0: int, i1: int) -> Events:
        """Events `[i0, i1)`; raises `RecordingError` if the range is outside the file."""
        if not 0 <= i0 <= i1 <= self._n:
            raise RecordingError(
                f"{self._path}: event range [{i0}, {i1}) is outside dataset {_T} "
                f"of {self._n} events"
            )
        t_us = np.asarray(self._t[i0:i1], dtype=np.int64)
        t_us += self._t_offset
        return Events(
            x=np.asarray(self._x[i0:i1], dtype=np.uint16),
            y=np.asarray(self._y[i0:i1], dtype=np.uint16),
            # DSEC stores 0/1; `> 0` also maps a -1/1 encoding onto 0/1 without a branch.
            p=(np.asarray(self._p[i0:i1]) > 0).view(np.uint8),
            t_us=t_us,
        )

    def _ms_bounds(self, ms: int) -> tuple[int, int]:
        """Event index range that must contain the answer for a time in millisecond `ms`."""
        size = int(self._ms_to_idx.shape[0])
        if ms < size:
            pair = np.asarray(self._ms_to_idx[ms : ms + 2], dtype=np.int64)
            lo = int(pair[0])
            hi = int(pair[1]) if pair.shape[0] > 1 else self._n
        else:
            lo = int(self._ms_to_idx[size - 1]) if size else 0
            hi = self._n
        lo = min(max(lo, 0), self._n)
        return lo, min(max(hi, lo), self._n)

    def _max_coordinate(self, dataset: Any) -> int:
        """Largest value in `dataset`, read `_SCAN_CHUNK` events at a time."""
        top = 0
        for i in range(0, self._n, _SCAN_CHUNK):
            top = max(top, int(np.max(dataset[i : i + _SCAN_CHUNK])))
        return top


def _check_integer_vector(dataset: Any, name: str, path: Path) -> None:
    if dataset.ndim != 1:
        raise RecordingError(f"{path}: dataset {name} must be 1-D, has shape {dataset.shape}")
    if not np.issubdtype(dataset.dtype, np.integer):
        raise RecordingError(f"{path}: dataset {name} has dtype {dataset.dtype}, not integers")


def _read_scalar(dataset: Any, path: Path) -> int:
    values = np.asarray(dataset[()]).reshape(-1)
    if values.shape[0] != 1 or not np.issubdtype(values.dtype, np.integer):
        raise RecordingError(f"{path}: dataset {_T_OFFSET} must hold one integer (µs)")
    return int(values[0])


def _read_size_attr(h5file: Any, name: str, path: Path) -> int | None:
    """The sensor size from a root attribute, or None to derive it from the coordinates."""
    if name not in h5file.attrs:
        return None
    value = np.asarray(h5file.attrs[name]).reshape(-1)
    if value.shape[0] != 1 or not np.issubdtype(value.dtype, np.integer) or int(value[0]) < 1:
        raise RecordingError(f"{path}: attribute {name} must be a positive integer (pixels)")
    return int(value[0])


FORMAT = Format(name="dsec", detect=detect, open=DsecReader)
