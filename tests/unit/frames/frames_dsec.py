"""Small real DSEC files for the frames tests, and a brute-force reference for their windows."""

from __future__ import annotations

from pathlib import Path

import h5py  # type: ignore[import-untyped]
import numpy as np
from numpy.typing import NDArray

__all__ = ["SIDE", "T_OFFSET_US", "event_range", "write_dsec"]

#: `t_offset` of every file written here (epoch µs).
T_OFFSET_US = 1_600_000_000_000_000
#: Sensor width and height (pixels).
SIDE = 16


def write_dsec(path: Path, t: NDArray[np.int64]) -> Path:
    """A DSEC file with relative times `t` (µs, sorted) on a `SIDE` × `SIDE` sensor."""
    n = t.shape[0]
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as h5:
        h5.attrs["width"] = SIDE
        h5.attrs["height"] = SIDE
        h5.create_dataset("events/x", data=rng.integers(0, SIDE, n).astype(np.uint16))
        h5.create_dataset("events/y", data=rng.integers(0, SIDE, n).astype(np.uint16))
        h5.create_dataset("events/p", data=rng.integers(0, 2, n).astype(np.uint8))
        h5.create_dataset("events/t", data=t.astype(np.uint32))
        ms = np.arange(int(t[-1]) // 1000 + 2) * 1000
        h5.create_dataset("ms_to_idx", data=np.searchsorted(t, ms).astype(np.uint64))
        h5.create_dataset("t_offset", data=np.int64(T_OFFSET_US))
    return path


def event_range(t_abs: NDArray[np.int64], t0: int, t1: int) -> tuple[int, int]:
    """Brute force: the indices of the events with `t0 <= t < t1`, checked to be contiguous."""
    members = np.flatnonzero((t_abs >= t0) & (t_abs < t1))
    if members.size == 0:
        before = int(np.count_nonzero(t_abs < t0))
        return before, before
    i0, i1 = int(members[0]), int(members[-1]) + 1
    assert members.size == i1 - i0
    return i0, i1
