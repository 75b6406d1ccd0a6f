"""The DSEC layout: `events/{x,y,p,t}`, `ms_to_idx` and the scalar `t_offset`.

`events/t` is µs relative to `t_offset` (µs) and sorted; `ms_to_idx[k]` is the index of the
first event with `t >= k` ms, so a time lookup reads two of its entries and one small slice.
Files from `write_sample` also carry root attributes `width` and `height` (pixels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from labeller.config import RecordingSettings
from labeller.errors import RecordingError
from labeller.recordings._h5 import attribute, faults_named, find_dataset, find_group
from labeller.recordings.formats._base import Format
from labeller.recordings.formats._columns import Column, Columns, TimeBase
from labeller.recordings.formats._reader import ColumnReader, PeriodIndex

__all__ = ["FORMAT", "detect", "open_dsec"]

_COLUMNS = ("events/x", "events/y", "events/p", "events/t")
_MS_TO_IDX = "ms_to_idx"
_T_OFFSET = "t_offset"


def detect(h5file: Any) -> bool:
    """An `events` group holding any of x, y, p, t: a broken DSEC file is reported as one."""
    events = find_group(h5file, "events")
    return events is not None and any(find_dataset(events, c) is not None for c in "xypt")


def open_dsec(h5file: Any, path: Path, options: RecordingSettings) -> ColumnReader:
    found = {}
    for name in (*_COLUMNS, _MS_TO_IDX, _T_OFFSET):
        found[name] = find_dataset(h5file, name)
        if found[name] is None:
            raise RecordingError(f"{path}: not a DSEC event recording: dataset {name} is missing")
    x, y, p, t = (Column(found[name], name, path) for name in _COLUMNS)
    t_offset = _read_t_offset(found[_T_OFFSET], path)
    index = PeriodIndex(
        Column(found[_MS_TO_IDX], _MS_TO_IDX, path), period_us=1000, origin_us=t_offset
    )
    return ColumnReader(
        path,
        Columns(x=x, y=y, p=p, t=t),
        TimeBase("us", t_offset),
        width=_size_attr(h5file, "width", path) or options.width,
        height=_size_attr(h5file, "height", path) or options.height,
        index=index,
    )


def _read_t_offset(dataset: Any, path: Path) -> int:
    with faults_named(f"dataset {_T_OFFSET}"):
        values = np.asarray(dataset[()]).reshape(-1)
    if values.shape[0] != 1 or not np.issubdtype(values.dtype, np.integer):
        raise RecordingError(f"{path}: dataset {_T_OFFSET} must hold one integer (µs)")
    return int(values[0])


def _size_attr(h5file: Any, name: str, path: Path) -> int | None:
    """The sensor size from a root attribute, or None to ask the settings or the coordinates."""
    value = attribute(h5file, name, "the root group")
    if value is None:
        return None
    values = np.asarray(value).reshape(-1)
    if values.shape[0] != 1 or not np.issubdtype(values.dtype, np.integer) or int(values[0]) < 1:
        raise RecordingError(f"{path}: attribute {name} must be a positive integer (pixels)")
    return int(values[0])


FORMAT = Format(
    name="dsec",
    label="DSEC",
    detect=detect,
    open=open_dsec,
    signature="events group with x, y, p, t",
)
