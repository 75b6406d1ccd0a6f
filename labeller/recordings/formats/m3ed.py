"""M3ED: `prophesee/{left,right}/{x,y,t,p}`, `ms_map_idx` and `calib/resolution`.

`t` is integer µs; `ms_map_idx[k]` is the first event at or after k ms of that time base, so a
lookup reads two entries and one small slice. `calib/resolution` is [width, height] (pixels).
`RecordingSettings.camera` picks the camera.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labeller.config import RecordingSettings
from labeller.errors import RecordingError
from labeller.recordings._h5 import faults_named, find_dataset, find_group, integers_of
from labeller.recordings.formats._base import Format
from labeller.recordings.formats._columns import Column, Columns, TimeBase
from labeller.recordings.formats._reader import ColumnReader, PeriodIndex

__all__ = ["FORMAT", "detect", "open_m3ed"]


def detect(h5file: Any) -> bool:
    return find_group(h5file, "prophesee") is not None


def open_m3ed(h5file: Any, path: Path, options: RecordingSettings) -> ColumnReader:
    base = f"prophesee/{options.camera}"
    columns = []
    for field in "xypt":
        name = f"{base}/{field}"
        dataset = find_dataset(h5file, name)
        if dataset is None:
            raise RecordingError(f"{path}: not an M3ED event recording: dataset {name} is missing")
        columns.append(Column(dataset, name, path))
    x, y, p, t = columns
    index_name = f"{base}/ms_map_idx"
    index_dataset = find_dataset(h5file, index_name)
    index = (
        None
        if index_dataset is None
        else PeriodIndex(Column(index_dataset, index_name, path), period_us=1000, origin_us=0)
    )
    width, height = _resolution(h5file, f"{base}/calib/resolution", path)
    return ColumnReader(
        path,
        Columns(x=x, y=y, p=p, t=t),
        TimeBase("us"),
        width=width or options.width,
        height=height or options.height,
        index=index,
    )


def _resolution(h5file: Any, name: str, path: Path) -> tuple[int | None, int | None]:
    """Width and height (pixels) from the calibration, or (None, None) without it."""
    dataset = find_dataset(h5file, name)
    if dataset is None:
        return None, None
    with faults_named(f"dataset {name}"):
        value = dataset[()]
    size = integers_of(value)
    if size is None or len(size) != 2 or min(size) < 1:
        raise RecordingError(f"{path}: dataset {name} must be [width, height] in pixels")
    return size[0], size[1]


FORMAT = Format(
    name="m3ed",
    label="M3ED",
    detect=detect,
    open=open_m3ed,
    signature="prophesee group",
)
