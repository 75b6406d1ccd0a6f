"""HDF5 for training loaders: one dataset per column, captions beside their time windows.

Layout: the frames table at the root (`/frame`, `/t_start_us`, `/t_end_us`, `/provider`,
`/model`, `/caption`, with `--include-failed` also `/state`, `/error`), row i of every dataset
being the same frame; the audit trail, if asked for, under `/attempts/`. Text is variable-length
UTF-8 (`h5py.string_dtype()`; read with `.asstr()`). HDF5 has no nulls: a missing string is ""
and a missing integer 0. The job id and the rest of `ExportMeta` are root attributes.

Datasets are chunked, resizable and gzip-compressed, and grow one batch at a time, so a job of
millions of frames is written in constant memory. (HDF5 filters compress the numbers and the
string references; the caption text itself lives uncompressed in the file's heap.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np

from labeller.jobs.export.rows import Column, ExportMeta, Kind, Table

__all__ = ["write_hdf5"]

#: Rows per chunk: 256 KiB of int64, 512 KiB of string references; one chunk is what a
#: loader reading one frame decompresses.
CHUNK_ROWS = 32_768
_DTYPES: dict[Kind, Any] = {
    Kind.integer: np.dtype("int64"),
    Kind.real: np.dtype("float64"),
    Kind.text: h5py.string_dtype("utf-8"),
}
_MISSING: dict[Kind, Any] = {Kind.integer: 0, Kind.real: float("nan"), Kind.text: ""}


def write_hdf5(path: Path, tables: Sequence[Table], meta: ExportMeta) -> list[int]:
    """Write the first table at the root and any others in a group of their name; returns
    rows written per table."""
    counts = []
    with h5py.File(path, "w") as f:
        f.attrs.update(meta.as_dict())
        for number, table in enumerate(tables):
            group = f if number == 0 else f.create_group(table.name)
            group.attrs.update(table.constants)
            counts.append(_write_table(group, table))
    return counts


def _write_table(group: Any, table: Table) -> int:
    datasets = [
        group.create_dataset(
            column.name,
            shape=(0,),
            maxshape=(None,),
            dtype=_DTYPES[column.kind],
            chunks=(CHUNK_ROWS,),
            compression="gzip",
            compression_opts=4,
            shuffle=column.kind is not Kind.text,
        )
        for column in table.columns
    ]
    count = 0
    for batch in table.batches:
        if not batch:
            continue
        end = count + len(batch)
        for dataset, column, values in zip(
            datasets, table.columns, zip(*batch, strict=True), strict=True
        ):
            dataset.resize((end,))
            dataset[count:end] = _array(column, values)
        count = end
    return count


def _array(column: Column, values: Sequence[Any]) -> np.ndarray[Any, Any]:
    if column.nullable:
        missing = _MISSING[column.kind]
        values = [missing if value is None else value for value in values]
    if column.kind is Kind.text:
        return np.array(values, dtype=object)
    return np.asarray(values, dtype=_DTYPES[column.kind])
