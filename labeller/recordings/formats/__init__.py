"""On-disk event layouts, one module each, and the choice among them.

Detection looks for each layout's own top-level marker (`CD`, `prophesee`, `davis`,
`events/xs…`, `events/x…`), so no two known layouts can be confused; a file with a marker but
missing parts is opened as that layout, whose validation then names the missing dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labeller.config import RecordingSettings
from labeller.errors import RecordingError
from labeller.recordings._h5 import list_datasets
from labeller.recordings.formats import dsec, e2vid, generic, m3ed, mvsec, prophesee
from labeller.recordings.formats._base import Format, FormatReader

__all__ = ["FORMATS", "Format", "FormatReader", "open_format"]

#: Known layouts in detection order; `generic` is never detected, only chosen.
FORMATS: tuple[Format, ...] = (
    prophesee.FORMAT,
    m3ed.FORMAT,
    mvsec.FORMAT,
    e2vid.FORMAT,
    dsec.FORMAT,
    generic.FORMAT,
)
#: Datasets an "unknown layout" message lists.
_LISTED = 5


def open_format(h5file: Any, path: Path, options: RecordingSettings) -> tuple[Format, FormatReader]:
    """The layout `options.format` names or, for "auto", the detected one, opened.

    Auto falls back to `generic` when nothing is detected but `options.layout` is set. Raises
    `RecordingError` when a forced layout is absent or no layout fits.
    """
    if options.format == "auto":
        fmt = next((f for f in FORMATS if f.detect(h5file)), None)
        if fmt is None and options.layout is not None:
            fmt = generic.FORMAT
        if fmt is None:
            raise RecordingError(
                f"{path}: unknown event layout: {_found(h5file)}; set recording.format "
                "and, for other layouts, recording.layout"
            )
    else:
        fmt = next(f for f in FORMATS if f.name == options.format)
        if fmt is not generic.FORMAT and not fmt.detect(h5file):
            other = next((f for f in FORMATS if f.detect(h5file)), None)
            seen = f"it looks like {other.name}" if other is not None else _found(h5file)
            raise RecordingError(
                f"{path}: recording.format is {fmt.name} but the file has no {fmt.signature}; "
                f"{seen}"
            )
    return fmt, fmt.open(h5file, path, options)


def _found(h5file: Any) -> str:
    """The first few datasets as "found datasets a, b, c, …", for messages."""
    names = list_datasets(h5file, _LISTED)
    if not names:
        return "found no datasets"
    more = ", …" if len(names) > _LISTED else ""
    return f"found datasets {', '.join(names[:_LISTED])}{more}"
