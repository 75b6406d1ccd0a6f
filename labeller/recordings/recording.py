"""An open event recording: format detection, validation and h5py errors made `RecordingError`.

Every h5py `OSError`/`RuntimeError` (unreadable file, missing compression filter, truncated
chunk) leaves this module as one-line `RecordingError` naming the file, with the cause kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py  # type: ignore[import-untyped]
import hdf5plugin  # noqa: F401  (registers Blosc/zstd filters)

from labeller.errors import RecordingError
from labeller.recordings._events import Events
from labeller.recordings.formats import FormatReader, detect_format

__all__ = ["Recording", "open_recording"]


@contextmanager
def _translated(path: Path, action: str) -> Iterator[None]:
    """Turn h5py's I/O errors into `RecordingError("<path>: cannot <action>: <cause>")`."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        cause = " ".join(str(exc).split()) or type(exc).__name__
        raise RecordingError(f"{path}: cannot {action}: {cause}") from exc


class Recording:
    """A validated recording, open until `close()`; times are absolute epoch µs, ranges half-open.

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
        """Name of the detected layout, e.g. "dsec"."""
        return self._format

    @property
    def width(self) -> int:
        """Sensor width (pixels): from the file's attribute, else the largest x + 1."""
        with _translated(self._path, "read the sensor width"):
            return self._reader.width

    @property
    def height(self) -> int:
        """Sensor height (pixels): from the file's attribute, else the largest y + 1."""
        with _translated(self._path, "read the sensor height"):
            return self._reader.height

    @property
    def event_count(self) -> int:
        return self._reader.event_count

    @property
    def t_start_us(self) -> int:
        """Time of the first event (epoch µs)."""
        return self._reader.t_start_us

    @property
    def t_end_us(self) -> int:
        """One µs past the last event (epoch µs), so `[t_start_us, t_end_us)` holds every event."""
        return self._reader.t_end_us

    def index_at(self, t_us: int) -> int:
        """Index of the first event at or after `t_us` (epoch µs); `event_count` if none."""
        with _translated(self._path, f"look up time {t_us} us"):
            return self._reader.index_at(t_us)

    def read(self, i0: int, i1: int) -> Events:
        """Events `[i0, i1)`; raises `RecordingError` if the range exceeds the file."""
        with _translated(self._path, f"read events [{i0}, {i1})"):
            return self._reader.read(i0, i1)

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


def open_recording(path: Path) -> Recording:
    """Open and validate the recording at `path`, detecting its layout.

    Raises `RecordingError` if the file is missing, not HDF5, or not a valid known layout.
    """
    path = Path(path)
    if not path.is_file():
        reason = "is a directory, not a file" if path.is_dir() else "no such file"
        raise RecordingError(f"{path}: {reason}")
    with _translated(path, "open the file"):
        if not h5py.is_hdf5(path):
            raise RecordingError(f"{path}: not an HDF5 file")
        h5file = h5py.File(path, "r")
    try:
        with _translated(path, "read the file"):
            fmt = detect_format(h5file)
            reader = fmt.open(h5file, path)
    except BaseException:
        h5file.close()
        raise
    return Recording(path, h5file, fmt.name, reader)
