"""Where the x, y, p and t of events live, and how stored times become absolute µs.

A `Column` is one event field: a 1-D dataset, a field of a compound dataset, or a column of an
N×k array. `Columns` reads the four at once, touching a shared dataset (compound or N×k) once
per read. `TimeBase` maps stored times to absolute µs with one monotone rule, so a sorted file
stays sorted and every lookup compares like with like.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from labeller.errors import RecordingError
from labeller.recordings._h5 import check_filters, faults_named

__all__ = ["Column", "Columns", "TimeBase", "TimeUnit"]

TimeUnit = Literal["ns", "us", "ms", "s"]

#: µs per stored unit, for float timestamps.
_FLOAT_SCALE: dict[str, float] = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
#: µs per stored unit, for integer timestamps of whole units (ns is handled by rounding).
_INT_SCALE: dict[str, int] = {"us": 1, "ms": 1_000, "s": 1_000_000}
#: Element kinds an event field may have: bool, signed, unsigned, float.
_NUMERIC_KINDS = "biuf"


class Column:
    """One event field of `dataset` (named `name` in the file): whole, `field`, or `column`."""

    def __init__(
        self,
        dataset: Any,
        name: str,
        path: Path,
        *,
        field: str | None = None,
        column: int | None = None,
    ) -> None:
        self.dataset = dataset
        self.name = name
        self.field = field
        self.column = column
        with faults_named(f"dataset {name}"):
            shape, dtype = tuple(dataset.shape), dataset.dtype
        if field is not None:
            names = dtype.names or ()
            if len(shape) != 1 or field not in names:
                found = f"fields {', '.join(names)}" if names else f"dtype {dtype}"
                raise RecordingError(
                    f"{path}: dataset {name} must be a 1-D compound with a field {field}, "
                    f"has shape {shape} and {found}"
                )
            dtype = dtype.fields[field][0]
        elif column is not None:
            if len(shape) != 2 or shape[1] <= column:
                raise RecordingError(
                    f"{path}: dataset {name} must be an N×{column + 1} (or wider) array, "
                    f"has shape {shape}"
                )
        elif len(shape) != 1:
            raise RecordingError(f"{path}: dataset {name} must be 1-D, has shape {shape}")
        if dtype.kind not in _NUMERIC_KINDS:
            raise RecordingError(f"{path}: dataset {name} has dtype {dtype}, not numbers")
        self.dtype: np.dtype[Any] = dtype
        self.length = int(shape[0])
        check_filters(dataset, name, path)

    def read(self, i0: int, i1: int) -> NDArray[Any]:
        """Values of events `[i0, i1)`; reads only this field where the layout allows."""
        with faults_named(f"dataset {self.name}"):
            if self.field is not None:
                return np.asarray(self.dataset.fields(self.field)[i0:i1])
            if self.column is not None:
                return np.asarray(self.dataset[i0:i1, self.column])
            return np.asarray(self.dataset[i0:i1])

    def pick(self, rows: NDArray[Any]) -> NDArray[Any]:
        """This field out of rows already read from the shared dataset."""
        if self.field is not None:
            return np.asarray(rows[self.field])
        if self.column is not None:
            return np.asarray(rows[:, self.column])
        return rows

    def max(self, count: int, chunk: int) -> int:
        """Largest value among the first `count` events, read `chunk` events at a time."""
        top = 0
        for i in range(0, count, chunk):
            values = self.read(i, min(i + chunk, count))
            if values.size:
                top = max(top, int(np.max(values)))
        return top


@dataclass(frozen=True)
class Columns:
    """The four event fields; `read` touches a dataset they share once, not four times."""

    x: Column
    y: Column
    p: Column
    t: Column

    @property
    def all(self) -> tuple[Column, Column, Column, Column]:
        return (self.x, self.y, self.p, self.t)

    def read(self, i0: int, i1: int) -> tuple[NDArray[Any], ...]:
        """Raw x, y, p, t of events `[i0, i1)`."""
        first = self.x
        shared = first.field is not None or first.column is not None
        if shared and all(c.name == first.name for c in self.all):
            with faults_named(f"dataset {first.name}"):
                rows = np.asarray(first.dataset[i0:i1])
            return tuple(c.pick(rows) for c in self.all)
        return tuple(c.read(i0, i1) for c in self.all)


@dataclass(frozen=True)
class TimeBase:
    """Stored times in `unit` plus `offset_us` → absolute µs, rounded to the nearest µs.

    Float times (e.g. seconds) are scaled and rounded half to even; integer nanoseconds round
    half up. Both rules are monotone, so sorted stored times stay sorted in µs.
    """

    unit: TimeUnit = "us"
    offset_us: int = 0

    def to_us(self, raw: NDArray[Any]) -> NDArray[np.int64]:
        if raw.dtype.kind == "f":
            scaled = np.rint(raw.astype(np.float64) * _FLOAT_SCALE[self.unit])
            out = scaled.astype(np.int64)
        elif self.unit == "ns":
            out = (raw.astype(np.int64) + 500) // 1000
        else:
            out = raw.astype(np.int64) * _INT_SCALE[self.unit]
        if self.offset_us:
            out += self.offset_us
        return out
