"""An open event recording: layout detection, validation and h5py errors made `RecordingError`.

Every h5py failure (unreadable file, damaged object, missing compression filter, corrupt chunk)
leaves this module as one `RecordingError` line naming the file and, where known, the dataset,
with the h5py error kept as the cause.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

import h5py  # type: ignore[import-untyped]
import hdf5plugin  # noqa: F401  (registers Blosc, zstd, LZ4, … filters)
import numpy as np
from numpy.typing import NDArray

from labeller.config import RecordingSettings
from labeller.errors import RecordingError
from labeller.recordings._events import Events
from labeller.recordings._h5 import H5Fault
from labeller.recordings.formats import FormatReader, open_format

__all__ = ["Recording", "open_recording"]


def _cause(exc: BaseException) -> str:
    """h5py's message on one line; a KeyError's without the quotes `str` adds."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split()) or type(exc).__name__


@contextmanager
def _translated(path: Path, action: str) -> Iterator[None]:
    """h5py's errors as `RecordingError("<path>: cannot <action>: [<object>: ]<cause>")`."""
    try:
        yield
    except H5Fault as fault:
        cause = fault.__cause__ if fault.__cause__ is not None else fault
        raise RecordingError(f"{path}: cannot {action}: {fault.what}: {_cause(cause)}") from cause
    except (OSError, RuntimeError) as exc:
        raise RecordingError(f"{path}: cannot {action}: {_cause(exc)}") from exc


class Recording:
    """A validated recording, open until `close()`; times are absolute µs, ranges half-open.

    Use `open_recording` rather than the constructor; both work as a context manager.
    """

    def __init__(self, path: Path, h5file: Any, format_name: str, reader: FormatReader) -> None:
        self._path = path
        self._h5 = h5file
        self._format = format_name
        self._reader = reader

    @property
    def path(self) -> Path:
        return self._path

    @property
    def format(self) -> str:
        """Name of the layout, e.g. "dsec", "prophesee", "generic"."""
        return self._format

    @property
    def width(self) -> int:
        """Sensor width (pixels): the file's, else the settings', else the largest x + 1."""
        with _translated(self._path, "read the sensor width"):
            return self._reader.width

    @property
    def height(self) -> int:
        """Sensor height (pixels): the file's, else the settings', else the largest y + 1."""
        with _translated(self._path, "read the sensor height"):
            return self._reader.height

    @property
    def event_count(self) -> int:
        return self._reader.event_count

    @property
    def t_start_us(self) -> int:
        """Time of the first event (µs in the file's time base, e.g. epoch for DSEC)."""
        return self._reader.t_start_us

    @property
    def t_end_us(self) -> int:
        """One µs past the last event, so `[t_start_us, t_end_us)` holds every event."""
        return self._reader.t_end_us

    @property
    def datasets(self) -> Mapping[str, str]:
        """The dataset holding each field, keyed "x", "y", "p", "t" (for messages)."""
        return MappingProxyType(self._reader.datasets)

    def index_at(self, t_us: int) -> int:
        """Index of the first event at or after `t_us` (µs); `event_count` if none.

        Uses the file's own time index where it has one, otherwise bisects; either way it reads
        O(log n) small slices, never all timestamps.
        """
        with _translated(self._path, f"look up time {t_us} us"):
            return self._reader.index_at(t_us)

    def indices_at(self, times_us: NDArray[np.int64]) -> NDArray[np.int64]:
        """`index_at` of many sorted times at once, in one forward pass over the timestamps."""
        with _translated(self._path, f"look up {len(times_us)} times"):
            return self._reader.indices_at(times_us)

    def time_at(self, index: int) -> int:
        """Time (µs) of event `index`, reading only its timestamp; for count windows."""
        with _translated(self._path, f"read the time of event {index}"):
            return self._reader.time_at(index)

    def read(self, i0: int, i1: int) -> Events:
        """Events `[i0, i1)`; raises `RecordingError` if the range exceeds the file."""
        with _translated(self._path, f"read events [{i0}, {i1})"):
            return self._reader.read(i0, i1)

    def _settle_size(self, max_x: int, max_y: int) -> None:
        """Let a scan that saw every coordinate spare `width`/`height` their own pass."""
        self._reader.settle_size(max_x, max_y)

    def close(self) -> None:
        with _translated(self._path, "close the file"):
            self._h5.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Recording({str(self._path)!r}, format={self._format!r})"


def open_recording(path: Path, options: RecordingSettings | None = None) -> Recording:
    """Open and validate the recording at `path`, in the layout `options` names or detects.

    `options` defaults to `RecordingSettings()` (auto-detection). Raises `RecordingError` if the
    file is missing, not HDF5, damaged, or not a valid layout.
    """
    path = Path(path)
    options = RecordingSettings() if options is None else options
    if not path.is_file():
        reason = "is a directory, not a file" if path.is_dir() else "no such file"
        raise RecordingError(f"{path}: {reason}")
    with _translated(path, "open the file"):
        if not h5py.is_hdf5(path):
            raise RecordingError(f"{path}: not an HDF5 file")
        h5file = h5py.File(path, "r")
    try:
        with _translated(path, "open the file"):
            fmt, reader = open_format(h5file, path, options)
    except BaseException:
        h5file.close()
        raise
    return Recording(path, h5file, fmt.name, reader)
