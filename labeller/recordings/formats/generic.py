"""Layouts labeller does not know by name, described by `LayoutSettings`.

Either four 1-D datasets or one `events` dataset: a compound with fields x, y, t, p, or an N×4
array whose columns follow `layout.columns`. Times are in `layout.time_unit`, rounded to the
nearest µs, plus `layout.t_offset_us`. The sensor size comes from the settings, else the
largest coordinate + 1. Never auto-detected: `format: generic` or a layout nothing else fits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labeller.config import LayoutSettings, RecordingSettings
from labeller.errors import RecordingError
from labeller.recordings._h5 import find_dataset
from labeller.recordings.formats._base import Format
from labeller.recordings.formats._columns import Column, Columns, TimeBase
from labeller.recordings.formats._reader import ColumnReader

__all__ = ["FORMAT", "open_generic"]


def open_generic(h5file: Any, path: Path, options: RecordingSettings) -> ColumnReader:
    layout = options.layout
    if layout is None:
        raise RecordingError(f"{path}: recording.format generic needs a recording.layout")
    columns = _columns(h5file, path, layout)
    return ColumnReader(
        path,
        columns,
        TimeBase(layout.time_unit, layout.t_offset_us),
        width=options.width,
        height=options.height,
    )


def _columns(h5file: Any, path: Path, layout: LayoutSettings) -> Columns:
    if layout.events is not None:
        events = _require(h5file, layout.events, "events", path)
        if events.dtype.names:
            x, y, p, t = (Column(events, layout.events, path, field=f) for f in "xypt")
        else:
            x, y, p, t = (
                Column(events, layout.events, path, column=layout.columns.index(f)) for f in "xypt"
            )
        return Columns(x=x, y=y, p=p, t=t)
    names = {"x": layout.x, "y": layout.y, "p": layout.p, "t": layout.t}
    found = {}
    for key, name in names.items():
        if name is None:
            raise RecordingError(f"{path}: recording.layout.{key} is not set")
        found[key] = Column(_require(h5file, name, key, path), name, path)
    return Columns(x=found["x"], y=found["y"], p=found["p"], t=found["t"])


def _require(h5file: Any, name: str, key: str, path: Path) -> Any:
    dataset = find_dataset(h5file, name)
    if dataset is None:
        raise RecordingError(f"{path}: dataset {name} named by recording.layout.{key} is missing")
    return dataset


FORMAT = Format(
    name="generic",
    label="generic",
    detect=lambda h5file: False,
    open=open_generic,
    signature="layout given by recording.layout",
)
