"""`labeller export`: pick the format by extension, stream the rows, replace files atomically.

Formats: `.jsonl`, `.csv`, `.parquet`, `.h5` (or `.hdf5`). With `attempts`, the audit trail of
every provider call goes to a sibling file `NAME.attempts.EXT` (`captions.attempts.csv` beside
`captions.csv`), or to the `/attempts` group of the same `.h5` file.

Files are written whole or not at all (`labeller.files.staged`: a unique temporary file
beside each, renamed over it once complete). Of a pair, the attempts file is renamed first
and the captions file last, and a failed rename puts the renamed one back: a failure leaves
the old pair, and a reader who sees the new captions file also finds its audit trail. Between
the two renames a reader may see new attempts beside old captions of the same job, a superset
of their calls. Two exports to one file at once each write their own temporary files; the
last rename of each file wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine

from labeller.errors import UserError
from labeller.files import staged
from labeller.jobs.export.rows import ExportMeta, Table, attempt_table, exported_states, frame_table
from labeller.jobs.export.to_csv import write_csv
from labeller.jobs.export.to_hdf5 import write_hdf5
from labeller.jobs.export.to_jsonl import write_jsonl
from labeller.jobs.export.to_parquet import write_parquet
from labeller.store import count_attempts, count_frames, get_job

#: Rows fetched and written at a time: a few MB of captions, and one Parquet row group.
BATCH_ROWS = 20_000


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"
    hdf5 = "hdf5"


#: Output extensions and their format.
EXPORT_SUFFIXES = {
    ".jsonl": ExportFormat.jsonl,
    ".csv": ExportFormat.csv,
    ".parquet": ExportFormat.parquet,
    ".h5": ExportFormat.hdf5,
    ".hdf5": ExportFormat.hdf5,
}


@dataclass(frozen=True)
class ExportResult:
    #: Frames written (captions, and failed frames with `include_failed`).
    frames: int
    #: Attempt rows written; 0 unless asked for.
    attempts: int
    #: The files written, the captions first.
    files: tuple[Path, ...]


def export_format(out: Path) -> ExportFormat:
    """The format `out`'s extension names; UserError listing the supported ones otherwise."""
    found = EXPORT_SUFFIXES.get(out.suffix.lower())
    if found is None:
        known = ", ".join(EXPORT_SUFFIXES)
        what = f"extension {out.suffix!r}" if out.suffix else "no extension"
        raise UserError(f"{out}: unknown export format ({what}); use one of {known}")
    return found


def _attempts_path(out: Path) -> Path | None:
    """Where `attempts` puts the audit trail: a sibling file, or None for HDF5 (a group)."""
    if export_format(out) is ExportFormat.hdf5:
        return None
    return out.with_name(f"{out.stem}.attempts{out.suffix}")


def export_rows(engine: Engine, job_id: str, *, include_failed: bool, attempts: bool) -> int:
    """How many rows an export will write (for a progress bar; a running job may add some)."""
    total = count_frames(engine, job_id, exported_states(include_failed))
    return total + (count_attempts(engine, job_id) if attempts else 0)


def export_job(
    engine: Engine,
    job_id: str,
    out: Path,
    *,
    include_failed: bool = False,
    attempts: bool = False,
    on_rows: Callable[[int], None] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> ExportResult:
    """Write a job's captions to `out` in the format its extension names.

    `on_rows` is called with the rows written so far (frames and attempts together). Raises
    UserError for an unknown extension, an unknown job or a path that cannot be written; files
    already at the targets are replaced only when the whole export succeeded.
    """
    fmt = export_format(out)
    job = get_job(engine, job_id)
    if job is None:
        raise UserError(f"job {job_id}: no such job in the database")
    meta = ExportMeta.of(job, include_failed=include_failed)
    sibling = _attempts_path(out) if attempts else None
    targets = [out] if sibling is None else [out, sibling]
    written = 0

    def advance(rows: int) -> None:
        nonlocal written
        written += rows
        if on_rows is not None:
            on_rows(written)

    frames = frame_table(
        engine, job_id, include_failed=include_failed, batch_rows=batch_rows, on_rows=advance
    )
    calls = attempt_table(engine, job_id, batch_rows=batch_rows, on_rows=advance)
    # Renamed in this order when the block ends: the attempts first, the captions last.
    with staged(targets[::-1]) as temps:
        parts = temps[::-1]
        try:
            if fmt is ExportFormat.hdf5:
                counts = write_hdf5(parts[0], [frames, calls] if attempts else [frames], meta)
            else:
                counts = [_write_one(fmt, parts[0], frames, meta)]
                if sibling is not None:
                    counts.append(_write_one(fmt, parts[1], calls, meta))
        except OSError as exc:
            raise UserError(f"{out}: cannot write: {exc.strerror or exc}") from exc
    return ExportResult(counts[0], counts[1] if attempts else 0, tuple(targets))


def export_jsonl(engine: Engine, job_id: str, out: Path) -> int:
    """Done frames as JSON lines (what `labeller demo` writes); returns frames written."""
    if export_format(out) is not ExportFormat.jsonl:
        raise UserError(f"{out}: only .jsonl export is supported here")
    return export_job(engine, job_id, out).frames


def _write_one(fmt: ExportFormat, path: Path, table: Table, meta: ExportMeta) -> int:
    if fmt is ExportFormat.jsonl:
        return write_jsonl(path, table)
    if fmt is ExportFormat.csv:
        return write_csv(path, table)
    return write_parquet(path, table, meta)
