"""Prophesee Metavision HDF5 event files: `CD/events` and its time index `CD/indexes`.

`CD/events` is a compound (x u2, y u2, p i2, t i8 µs). Metavision's `HDF5EventFileWriter`
(openeb, `hdf5_event_file_writer.cpp`) writes `CD/indexes` (id u8, ts i8) with one entry per
2 ms: entry 0 is a placeholder (id 0, ts -1) and entry k ≥ 1 holds the first event at or
after `(k - 1)·2000 - offset` µs, where the dataset's text attribute `offset` is minus the
first event's time. Across an empty period the writer repeats the previous entry, so entries
are only hints (`PeriodIndex`). The sensor size is the `geometry` attribute ("640x480", on the
root or `CD`); without it, the settings, then the largest coordinate + 1.

The events use Prophesee's ECF codec (HDF5 filter 0x8ECF): without its plugin on
HDF5_PLUGIN_PATH the file is refused at open with a message saying so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from labeller.config import RecordingSettings
from labeller.errors import RecordingError
from labeller.recordings._h5 import attribute, find_dataset, find_group, integers_of, text_of
from labeller.recordings.formats._base import Format
from labeller.recordings.formats._columns import Column, Columns, TimeBase
from labeller.recordings.formats._reader import ColumnReader, PeriodIndex

__all__ = ["FORMAT", "detect", "open_prophesee"]

_EVENTS = "CD/events"
_INDEXES = "CD/indexes"
#: Period of `CD/indexes` entries (µs).
_INDEX_PERIOD_US = 2000
_GEOMETRY = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")


def detect(h5file: Any) -> bool:
    return find_group(h5file, "CD") is not None


def open_prophesee(h5file: Any, path: Path, options: RecordingSettings) -> ColumnReader:
    events = find_dataset(h5file, _EVENTS)
    if events is None:
        raise RecordingError(
            f"{path}: not a Prophesee event recording: dataset {_EVENTS} is missing"
        )
    x, y, p, t = (Column(events, _EVENTS, path, field=f) for f in "xypt")
    width, height = _geometry(h5file, path)
    return ColumnReader(
        path,
        Columns(x=x, y=y, p=p, t=t),
        TimeBase("us"),
        width=width or options.width,
        height=height or options.height,
        index=_index(h5file, path, t),
    )


def _index(h5file: Any, path: Path, t: Column) -> PeriodIndex | None:
    """`CD/indexes` as a hint, or None when the file has none (lookups then bisect).

    Without an `offset` attribute the periods start at the first event, as the writer's do.
    """
    dataset = find_dataset(h5file, _INDEXES)
    if dataset is None or t.length == 0:
        return None
    ids = Column(dataset, _INDEXES, path, field="id")
    value = attribute(dataset, "offset", _INDEXES)
    if value is None:
        return PeriodIndex(ids, period_us=_INDEX_PERIOD_US, origin_us=int(t.read(0, 1)[0]), first=1)
    offset = integers_of(value)
    if offset is None or len(offset) != 1:
        raise RecordingError(
            f"{path}: attribute offset of {_INDEXES} must be one integer (µs), got {value!r}"
        )
    return PeriodIndex(ids, period_us=_INDEX_PERIOD_US, origin_us=-offset[0], first=1)


def _geometry(h5file: Any, path: Path) -> tuple[int | None, int | None]:
    """Width and height (pixels) from a `geometry` attribute on the root or `CD`."""
    for node, where in ((h5file, "the root group"), (find_group(h5file, "CD"), "CD")):
        value = None if node is None else attribute(node, "geometry", where)
        if value is None:
            continue
        text = text_of(value)
        match = _GEOMETRY.match(text) if text is not None else None
        if match is None or min(int(match[1]), int(match[2])) < 1:
            raise RecordingError(
                f"{path}: attribute geometry of {where} must look like 640x480, got {value!r}"
            )
        return int(match[1]), int(match[2])
    return None, None


FORMAT = Format(
    name="prophesee",
    label="Prophesee",
    detect=detect,
    open=open_prophesee,
    signature="CD group",
)
