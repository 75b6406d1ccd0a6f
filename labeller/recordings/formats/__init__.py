"""On-disk event layouts, one module each; add a format by appending its `FORMAT` to `FORMATS`."""

from __future__ import annotations

from typing import Any

from labeller.recordings.formats import dsec
from labeller.recordings.formats._base import Format, FormatReader

__all__ = ["FORMATS", "Format", "FormatReader", "detect_format"]

#: Known layouts in detection order; the first is also the fallback (see `detect_format`).
FORMATS: tuple[Format, ...] = (dsec.FORMAT,)


def detect_format(h5file: Any) -> Format:
    """The first format whose `detect` accepts `h5file`, else the first of `FORMATS`.

    Falling back rather than failing here lets that format's validation name the dataset that
    is missing, which tells the user more than "unknown layout".
    """
    for fmt in FORMATS:
        if fmt.detect(h5file):
            return fmt
    return FORMATS[0]
