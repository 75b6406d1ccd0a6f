"""CSV with a header row: the constants (job id) first, missing values as empty fields.

Captions may hold commas, quotes and newlines; the csv module quotes them, so read the file
back with a CSV reader, not by splitting lines.
"""

from __future__ import annotations

import csv
from pathlib import Path

from labeller.jobs.export.rows import Table

__all__ = ["write_csv"]


def write_csv(path: Path, table: Table) -> int:
    """Write `table` to `path`; returns rows written."""
    constants = list(table.constants.values())
    count = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*table.constants, *(column.name for column in table.columns)])
        for batch in table.batches:
            writer.writerows([*constants, *row] for row in batch)
            count += len(batch)
    return count
