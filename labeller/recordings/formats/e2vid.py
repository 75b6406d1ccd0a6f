"""E2VID / event_utils: `events/{xs,ys,ts,ps}` and the root attribute `sensor_resolution`.

`ts` is float64 seconds (rounded to the nearest µs); integer `ts` is read as µs. `ps` is bool
or 0/1. `sensor_resolution` is [height, width], the order event_utils writes and its readers
unpack (`h, w = sensor_resolution`); without it, the settings, then the largest coordinate + 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labeller.config import RecordingSettings
from labeller.errors import RecordingError
from labeller.recordings._h5 import attribute, find_dataset, find_group, integers_of
from labeller.recordings.formats._base import Format
from labeller.recordings.formats._columns import Column, Columns, TimeBase
from labeller.recordings.formats._reader import ColumnReader

__all__ = ["FORMAT", "detect", "open_e2vid"]

_COLUMNS = ("events/xs", "events/ys", "events/ps", "events/ts")


def detect(h5file: Any) -> bool:
    """An `events` group holding any of xs, ys, ts, ps (DSEC's has x, y, t, p)."""
    events = find_group(h5file, "events")
    return events is not None and any(
        find_dataset(events, c) is not None for c in ("xs", "ys", "ts", "ps")
    )


def open_e2vid(h5file: Any, path: Path, options: RecordingSettings) -> ColumnReader:
    columns = []
    for name in _COLUMNS:
        dataset = find_dataset(h5file, name)
        if dataset is None:
            raise RecordingError(f"{path}: not an E2VID event recording: dataset {name} is missing")
        columns.append(Column(dataset, name, path))
    x, y, p, t = columns
    height, width = _resolution(h5file, path)
    return ColumnReader(
        path,
        Columns(x=x, y=y, p=p, t=t),
        TimeBase("s" if t.dtype.kind == "f" else "us"),
        width=width or options.width,
        height=height or options.height,
    )


def _resolution(h5file: Any, path: Path) -> tuple[int | None, int | None]:
    """Height and width (pixels) from `sensor_resolution`, or (None, None) without it."""
    value = attribute(h5file, "sensor_resolution", "the root group")
    if value is None:
        return None, None
    size = integers_of(value)
    if size is None or len(size) < 2 or min(size[:2]) < 1:
        raise RecordingError(
            f"{path}: attribute sensor_resolution must be [height, width] in pixels, got {value!r}"
        )
    return size[0], size[1]


FORMAT = Format(
    name="e2vid",
    label="E2VID",
    detect=detect,
    open=open_e2vid,
    signature="events group with xs, ys, ts, ps",
)
