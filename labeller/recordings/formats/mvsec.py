"""MVSEC: `davis/{left,right}/events`, an N×4 float64 array of x, y, t (s), p (-1/+1).

Times are absolute seconds as floats, rounded to the nearest µs. Every MVSEC camera is a DAVIS
346, so the sensor is 346×260 unless the settings say otherwise; the file does not say.
`RecordingSettings.camera` picks the camera.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labeller.config import RecordingSettings
from labeller.errors import RecordingError
from labeller.recordings._h5 import find_dataset, find_group
from labeller.recordings.formats._base import Format
from labeller.recordings.formats._columns import Column, Columns, TimeBase
from labeller.recordings.formats._reader import ColumnReader

__all__ = ["FORMAT", "detect", "open_mvsec"]

#: DAVIS 346 sensor (pixels).
_WIDTH, _HEIGHT = 346, 260


def detect(h5file: Any) -> bool:
    return find_group(h5file, "davis") is not None


def open_mvsec(h5file: Any, path: Path, options: RecordingSettings) -> ColumnReader:
    name = f"davis/{options.camera}/events"
    events = find_dataset(h5file, name)
    if events is None:
        raise RecordingError(f"{path}: not an MVSEC event recording: dataset {name} is missing")
    x, y, t, p = (Column(events, name, path, column=i) for i in range(4))
    return ColumnReader(
        path,
        Columns(x=x, y=y, p=p, t=t),
        TimeBase("s"),
        width=options.width or _WIDTH,
        height=options.height or _HEIGHT,
    )


FORMAT = Format(
    name="mvsec",
    label="MVSEC",
    detect=detect,
    open=open_mvsec,
    signature="davis group",
)
