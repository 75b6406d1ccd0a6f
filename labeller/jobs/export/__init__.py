"""Export a job's captions for training, and its audit trail, as JSON lines, CSV, Parquet or HDF5.

`rows` defines the tables every format shares and streams them from the store in batches;
one `to_*` module per format writes them; `write` picks the format and replaces files atomically.
`__all__` here is the package's contract: `write` keeps no second list of its own.
"""

from __future__ import annotations

from labeller.jobs.export.write import (
    EXPORT_SUFFIXES,
    ExportFormat,
    ExportResult,
    export_format,
    export_job,
    export_jsonl,
    export_rows,
)

__all__ = [
    "EXPORT_SUFFIXES",
    "ExportFormat",
    "ExportResult",
    "export_format",
    "export_job",
    "export_jsonl",
    "export_rows",
]
