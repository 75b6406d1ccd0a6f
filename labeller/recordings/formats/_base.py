"""The contract every on-disk event layout implements, so `Recording` stays format-agnostic.

A format is a name, a cheap `detect` over an open HDF5 file, and an `open` that validates the
layout and returns a reader. Readers raise `RecordingError` for malformed layouts and
`H5Fault` (naming the dataset) when h5py fails; `Recording` turns the latter into a
`RecordingError` naming the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from labeller.config import RecordingSettings
from labeller.recordings._events import Events

__all__ = ["Format", "FormatReader"]


class FormatReader(Protocol):
    """Random access to one open recording; times are absolute µs, ranges half-open."""

    @property
    def event_count(self) -> int: ...

    @property
    def t_start_us(self) -> int: ...

    @property
    def t_end_us(self) -> int: ...

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    @property
    def datasets(self) -> dict[str, str]: ...

    def settle_size(self, max_x: int, max_y: int) -> None: ...

    def index_at(self, t_us: int) -> int: ...

    def indices_at(self, times_us: NDArray[np.int64]) -> NDArray[np.int64]: ...

    def time_at(self, index: int) -> int: ...

    def read(self, i0: int, i1: int) -> Events: ...


@dataclass(frozen=True)
class Format:
    """One layout: `detect(h5file)` is a quick guess, `open(h5file, path, options)` validates.

    `h5file` is an open `h5py.File`, typed `Any` because h5py ships no type information.
    `label` is the layout's usual spelling and `signature` what `detect` looks for, both for
    messages ("recording.format is dsec but the file has no <signature>").
    """

    name: str
    label: str
    detect: Callable[[Any], bool]
    open: Callable[[Any, Path, RecordingSettings], FormatReader]
    signature: str
