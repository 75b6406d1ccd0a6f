"""Parquet: one row group per batch, typed columns, the job's metadata in the file's schema."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from labeller.jobs.export.rows import ExportMeta, Kind, Table

__all__ = ["write_parquet"]

_TYPES = {Kind.integer: pa.int64(), Kind.real: pa.float64(), Kind.text: pa.string()}


def write_parquet(path: Path, table: Table, meta: ExportMeta) -> int:
    """Write `table` to `path`; returns rows written.

    The job's metadata (`ExportMeta`, values as text) is the schema's key-value metadata:
    `pyarrow.parquet.read_schema(path).metadata`.
    """
    fields = [pa.field(name, pa.string(), nullable=False) for name in table.constants]
    fields += [pa.field(c.name, _TYPES[c.kind], nullable=c.nullable) for c in table.columns]
    schema = pa.schema(fields, metadata={k: str(v) for k, v in meta.as_dict().items()})
    count = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in table.batches:
            if not batch:
                continue
            arrays = [
                pa.array([value] * len(batch), pa.string()) for value in table.constants.values()
            ]
            arrays += [
                pa.array(values, _TYPES[c.kind])
                for c, values in zip(table.columns, zip(*batch, strict=True), strict=True)
            ]
            writer.write_batch(pa.record_batch(arrays, schema=schema))
            count += len(batch)
    return count
