"""JSON lines: one object per row, the constants (job id) first, missing values as null."""

from __future__ import annotations

import json
from pathlib import Path

from labeller.jobs.export.rows import Table

__all__ = ["write_jsonl"]


def write_jsonl(path: Path, table: Table) -> int:
    """Write `table` to `path`; returns rows written."""
    names = [column.name for column in table.columns]
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for batch in table.batches:
            lines = (
                json.dumps(
                    {**table.constants, **dict(zip(names, row, strict=True))}, ensure_ascii=False
                )
                for row in batch
            )
            fh.write("".join(line + "\n" for line in lines))
            count += len(batch)
    return count
